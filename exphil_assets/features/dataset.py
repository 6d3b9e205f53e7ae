"""Build the embedded dataset: catalog + frame tables -> memory-mappable .npy arrays.

Layout of `data/datasets/{dataset_id}/` (one row per labelled frame, replays back to back):
- `floats.npy` float16 `[N, F]`, `ids.npy` int16 `[N, K]`, `labels.npy` uint8 `[N, 13]`;
- `replays.parquet`: one row per segment (a learner-replay, or a contiguous run of one):
  sha256, path, ports, characters, stage, `start` row, `length`, `first_frame`, `split`;
- `manifest.json`: provenance (DatasetManifest).

Pairing (SPEC.md §3): rows are frames from id -39 to the last. With frame delay D,
dataset row r holds the features of state r, the label of frame t = r + D (the pre-frame
input of frame t + 1, which produced state t + 1) and, with `with_prev_action`, the label of
t - 1 (the input of frame t). So each replay of T frames gives T - 1 - D rows.
The dataset id hashes the config, the sha256 of every ok catalog replay and the embedding
and frame-schema versions: identical inputs reuse the build. Built one replay at a time
and written to a temporary folder renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl
from tqdm import tqdm

from exphil_assets.atomic import write_json_atomic
from exphil_assets.errors import UserError
from exphil_assets.features.constants import EMBEDDING_VERSION, FIRST_PLAYABLE_FRAME, LABEL_DIM
from exphil_assets.features.labels import encode_labels
from exphil_assets.features.selection import FilterReport, Learner, SelectionConfig, select_learners
from exphil_assets.features.state import STATE_FIELDS, FeatureSpec, build_features, feature_spec
from exphil_assets.paths import DataPaths
from exphil_assets.replays.catalog import STATUS_OK, read_catalog
from exphil_assets.replays.frame_schema import FRAME_COLUMN, FRAME_SCHEMA_VERSION
from exphil_assets.replays.names import character_name, stage_name

FLOATS_FILE, IDS_FILE, LABELS_FILE = "floats.npy", "ids.npy", "labels.npy"
SEGMENTS_FILE, MANIFEST_FILE = "replays.parquet", "manifest.json"
FLOAT_DTYPE, ID_DTYPE, LABEL_DTYPE = np.dtype(np.float16), np.dtype(np.int16), np.dtype(np.uint8)
SPLITS = ("train", "val")
# Pre-frame fields the labels read.
LABEL_FIELDS = (
    "buttons_physical",
    "joystick_x",
    "joystick_y",
    "cstick_x",
    "cstick_y",
    "trigger_l",
    "trigger_r",
)


@dataclass(frozen=True)
class DatasetConfig:
    """Everything that decides a dataset's content (and so its id)."""

    player_port: int = 1
    """Controller port (1-4) of the learner; replays without a player there are skipped."""
    train_character: str | None = None
    """Learn from the port(s) playing this character; skip replays without it."""
    dual_port: bool = False
    """Both players are learners, each with the other as opponent."""
    both_human: bool = False
    """Keep only replays where both players are HUMAN."""
    human_learners_only: bool = True
    """Never learn from a CPU's inputs."""
    min_frames: int = 0
    """Skip replays with fewer playable frames."""
    characters: tuple[str, ...] = ()
    """Keep only replays where a player plays one of these."""
    stages: tuple[str, ...] = ()
    """Keep only replays on these stages (names or external ids)."""
    max_files: int | None = None
    """Keep the first N replays (by path) after filtering."""
    frame_delay: int = 0
    """Pair the features of state t - D with the label of t (online delay)."""
    val_split: float = 0.0
    """Fraction of replay FILES in validation, decided by each file's hash."""
    with_prev_action: bool = False
    """Add the previous action (label encoding) to the float features."""
    seed: int = 0
    """Salts the validation split (0: the split reads the sha256 directly)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "characters", tuple(self.characters))
        object.__setattr__(self, "stages", tuple(str(s) for s in self.stages))
        if self.frame_delay < 0:
            raise UserError(f"--frame-delay must be >= 0, got {self.frame_delay}")
        if not 0.0 <= self.val_split < 1.0:
            raise UserError(f"--val-split must be in [0, 1), got {self.val_split}")

    def selection(self) -> SelectionConfig:
        names = {f.name for f in fields(SelectionConfig)}
        return SelectionConfig(**{k: v for k, v in asdict(self).items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["characters"], d["stages"] = list(self.characters), list(self.stages)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Segment:
    """Rows `start .. start + length` of the arrays: one learner-replay (or a contiguous run)."""

    sha256: str
    path: str
    ego_port: int
    opp_port: int
    ego_character: int
    opp_character: int
    stage: int
    start: int
    length: int
    first_frame: int  # frame id of the segment's first row
    split: str


@dataclass
class DatasetManifest:
    """What a built dataset holds and where it came from (`manifest.json`)."""

    dataset_id: str
    path: Path
    config: DatasetConfig
    feature_spec: FeatureSpec
    embedding_version: int
    frame_schema_version: int
    catalog_hashes: list[str]
    filter_reports: list[FilterReport]
    frames: int
    split_frames: dict[str, int]
    split_files: dict[str, int]
    learner_replays: int
    bytes_per_frame: int
    character_frames: dict[str, int]
    opponent_character_frames: dict[str, int]
    stage_frames: dict[str, int]
    created_at: str
    build_seconds: float
    segments: list[Segment] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "segments"}
        d["path"] = str(self.path)
        d["config"] = self.config.to_dict()
        d["feature_spec"] = self.feature_spec.to_dict()
        d["filter_reports"] = [r.to_dict() for r in self.filter_reports]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path, segments: list[Segment]) -> DatasetManifest:
        d = dict(d)
        d["path"] = path
        d["config"] = DatasetConfig.from_dict(d["config"])
        d["feature_spec"] = FeatureSpec.from_dict(d["feature_spec"])
        d["filter_reports"] = [FilterReport(**r) for r in d["filter_reports"]]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known}, segments=segments)


def split_of(sha256: str, val_split: float, seed: int = 0) -> str:
    """'val' or 'train' for a replay file, from its hash alone (stable as files come and go)."""
    key = sha256 if seed == 0 else hashlib.sha256(f"{seed}:{sha256}".encode()).hexdigest()
    return "val" if int(key[:8], 16) / 2**32 < val_split else "train"


def dataset_id(config: DatasetConfig, catalog_hashes: list[str]) -> str:
    blob = json.dumps(
        {
            "config": config.to_dict(),
            "catalog": sorted(catalog_hashes),
            "embedding_version": EMBEDDING_VERSION,
            "frame_schema_version": FRAME_SCHEMA_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_frames(paths: DataPaths, learner: Learner) -> pl.DataFrame:
    """The frame-table columns the features and labels need, frames from id -39 on."""
    table = paths.frame_table(learner.sha256)
    if not table.exists():
        raise UserError(f"frame table {table} of {learner.path} is missing: re-run `exphil ingest`")
    present = set(pl.read_parquet_schema(table).names())
    wanted = [FRAME_COLUMN]
    for port in (learner.ego_port, learner.opp_port):
        for prefix in (f"p{port}_", f"p{port}_nana_"):
            wanted.extend(prefix + name for name in STATE_FIELDS + LABEL_FIELDS)
    frames = pl.read_parquet(table, columns=[c for c in wanted if c in present])
    return frames.filter(pl.col(FRAME_COLUMN) >= FIRST_PLAYABLE_FRAME)


def _contiguous_runs(frame_ids: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) row ranges where frame ids step by exactly 1 (labels need frame t + 1)."""
    breaks = np.nonzero(np.diff(frame_ids) != 1)[0] + 1
    bounds = [0, *breaks.tolist(), len(frame_ids)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def embed_replay(
    frames: pl.DataFrame, learner: Learner, frame_delay: int, with_prev_action: bool
) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """One learner-replay -> [(first_frame, floats [n, F], ids [n, K], labels [n, 13])] per run."""
    out = []
    ids = frames.get_column(FRAME_COLUMN).to_numpy()
    for lo, hi in _contiguous_runs(ids):
        run = frames.slice(lo, hi - lo)
        n = (hi - lo) - 1 - frame_delay
        if n <= 0:
            continue
        # inputs[t] = pre-frame input of frame t (what produced state t); label of t = inputs[t + 1].
        inputs = encode_labels(run, f"p{learner.ego_port}_")
        prev = inputs[frame_delay : frame_delay + n] if with_prev_action else None
        feats = build_features(run.slice(0, n), learner.ego_port, learner.opp_port, learner.stage, prev)
        labels = inputs[frame_delay + 1 : frame_delay + 1 + n]
        out.append((int(ids[lo]), feats.floats, feats.ids, labels))
    return out


class _NpyWriter:
    """Append rows to a .npy file whose row count is known up front (RSS stays flat)."""

    def __init__(self, path: Path, rows: int, width: int, dtype: np.dtype) -> None:
        self.fh: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": False,
            "shape": (rows, width),
        }
        np.lib.format.write_array_header_1_0(self.fh, header)
        self.dtype, self.width, self.expected, self.written = dtype, width, rows, 0

    def append(self, rows: np.ndarray) -> None:
        assert rows.shape[1] == self.width, (rows.shape, self.width)
        self.fh.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.written += rows.shape[0]

    def close(self) -> None:
        self.fh.close()
        if self.written != self.expected:
            raise RuntimeError(f"{self.fh.name}: wrote {self.written} rows, header says {self.expected}")


def _plan_rows(paths: DataPaths, learners: list[Learner], config: DatasetConfig) -> int:
    """Total dataset rows, from the frame ids alone (cheap: one Parquet column per replay)."""
    total = 0
    counted: dict[str, int] = {}
    for learner in learners:
        if learner.sha256 not in counted:
            table = paths.frame_table(learner.sha256)
            if not table.exists():
                raise UserError(f"frame table {table} of {learner.path} is missing: re-run `exphil ingest`")
            ids = pl.read_parquet(table, columns=[FRAME_COLUMN]).get_column(FRAME_COLUMN).to_numpy()
            ids = ids[ids >= FIRST_PLAYABLE_FRAME]
            runs = _contiguous_runs(ids) if len(ids) else []
            counted[learner.sha256] = sum(max(0, hi - lo - 1 - config.frame_delay) for lo, hi in runs)
        total += counted[learner.sha256]
    return total


def build_dataset(
    data_root: str | Path, config: DatasetConfig, progress: bool = False, rebuild: bool = False
) -> DatasetManifest:
    """Build (or reuse) the embedded dataset of `config` over the catalog of `data_root`."""
    start_time = time.perf_counter()
    paths = DataPaths(Path(data_root))
    catalog = read_catalog(paths.root)
    if catalog.height == 0:
        raise UserError(f"no replays ingested under {paths.root}: run `exphil ingest` first")
    catalog_hashes = sorted(set(catalog.filter(pl.col("status") == STATUS_OK).get_column("sha256").to_list()))
    learners, reports = select_learners(catalog, config.selection())
    ds_id = dataset_id(config, catalog_hashes)
    target = paths.dataset(ds_id)
    if (target / MANIFEST_FILE).exists() and not rebuild:
        return load_dataset(target)

    spec = feature_spec(config.with_prev_action)
    n_rows = _plan_rows(paths, learners, config)
    paths.datasets_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{ds_id}-", dir=paths.datasets_dir))
    try:
        writers = (
            _NpyWriter(tmp / FLOATS_FILE, n_rows, spec.float_dim, FLOAT_DTYPE),
            _NpyWriter(tmp / IDS_FILE, n_rows, spec.id_dim, ID_DTYPE),
            _NpyWriter(tmp / LABELS_FILE, n_rows, LABEL_DIM, LABEL_DTYPE),
        )
        segments: list[Segment] = []
        row = 0
        for learner in tqdm(learners, desc="embedding", unit="replay", disable=not progress):
            frames = _read_frames(paths, learner)
            split = split_of(learner.sha256, config.val_split, config.seed)
            for first_frame, floats, ids, labels in embed_replay(
                frames, learner, config.frame_delay, config.with_prev_action
            ):
                for writer, arr in zip(writers, (floats, ids, labels), strict=True):
                    writer.append(arr)
                segments.append(
                    Segment(
                        learner.sha256, learner.path, learner.ego_port, learner.opp_port,
                        learner.ego_character, learner.opp_character, learner.stage,
                        row, len(labels), first_frame, split,
                    )
                )  # fmt: skip
                row += len(labels)
            del frames
        for writer in writers:
            writer.close()
        pl.DataFrame([asdict(s) for s in segments], schema=_SEGMENT_SCHEMA).write_parquet(tmp / SEGMENTS_FILE)
        manifest = _manifest(ds_id, target, config, spec, catalog_hashes, reports, learners, segments)
        manifest.build_seconds = round(time.perf_counter() - start_time, 3)
        write_json_atomic(tmp / MANIFEST_FILE, manifest.to_dict())
        _publish(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return load_dataset(target)


_SEGMENT_SCHEMA = {
    "sha256": pl.String,
    "path": pl.String,
    "ego_port": pl.UInt8,
    "opp_port": pl.UInt8,
    "ego_character": pl.UInt8,
    "opp_character": pl.UInt8,
    "stage": pl.UInt16,
    "start": pl.Int64,
    "length": pl.Int64,
    "first_frame": pl.Int32,
    "split": pl.String,
}


def _publish(tmp: Path, target: Path) -> None:
    """Rename the finished build into place; a concurrent identical build may have won."""
    if target.exists():
        # Same id = same content; an older partial target (no manifest) is replaced.
        if (target / MANIFEST_FILE).exists():
            return
        shutil.rmtree(target)
    with contextlib.suppress(FileExistsError, OSError):
        os.rename(tmp, target)
    if not (target / MANIFEST_FILE).exists():
        raise RuntimeError(f"could not move the dataset build {tmp} to {target}")


def _manifest(
    ds_id: str,
    target: Path,
    config: DatasetConfig,
    spec: FeatureSpec,
    catalog_hashes: list[str],
    reports: list[FilterReport],
    learners: list[Learner],
    segments: list[Segment],
) -> DatasetManifest:
    split_frames = {s: 0 for s in SPLITS}
    split_files: dict[str, set[str]] = {s: set() for s in SPLITS}
    chars: Counter[str] = Counter()
    opps: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    for s in segments:
        split_frames[s.split] += s.length
        split_files[s.split].add(s.sha256)
        chars[character_name(s.ego_character)] += s.length
        opps[character_name(s.opp_character)] += s.length
        stages[stage_name(s.stage)] += s.length
    return DatasetManifest(
        dataset_id=ds_id,
        path=target,
        config=config,
        feature_spec=spec,
        embedding_version=EMBEDDING_VERSION,
        frame_schema_version=FRAME_SCHEMA_VERSION,
        catalog_hashes=catalog_hashes,
        filter_reports=reports,
        frames=sum(split_frames.values()),
        split_frames=split_frames,
        split_files={s: len(v) for s, v in split_files.items()},
        learner_replays=len(learners),
        bytes_per_frame=spec.float_dim * FLOAT_DTYPE.itemsize + spec.id_dim * ID_DTYPE.itemsize + LABEL_DIM,
        character_frames=dict(chars.most_common()),
        opponent_character_frames=dict(opps.most_common()),
        stage_frames=dict(stages.most_common()),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=0.0,
    )


def load_dataset(path: str | Path) -> DatasetManifest:
    """The manifest (with its segments) of a built dataset folder."""
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.exists():
        raise UserError(f"{path} is not a built dataset (no {MANIFEST_FILE})")
    data = json.loads(manifest_path.read_text())
    if int(data["embedding_version"]) != EMBEDDING_VERSION:
        raise UserError(
            f"dataset {path} has embedding version {data['embedding_version']}, this code "
            f"uses {EMBEDDING_VERSION}: rebuild it"
        )
    segments = [Segment(**row) for row in pl.read_parquet(path / SEGMENTS_FILE).to_dicts()]
    return DatasetManifest.from_dict(data, path, segments)
