"""What the training loop trains on: the train/val splits plus their provenance.

`load_training_data` is the adapter between TrainConfig and the features
module: it builds (or reuses) the embedded dataset for the config's data options
and loads its splits into memory as `SplitTensors`. `synthetic_training_data`
makes a small random dataset with the same shapes, for tests and benchmarks of
the loop alone.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exphil_assets.errors import UserError
from exphil_assets.training.batches import SplitTensors
from exphil_assets.training.config import TrainConfig

NUM_LABEL_COLUMNS = 13
STICK_BUCKETS = 17
SHOULDER_BUCKETS = 5


@dataclass
class TrainingData:
    """Splits in memory, the feature layout, and where the data came from."""

    train: SplitTensors
    val: SplitTensors | None
    float_names: list[str]
    id_vocab_sizes: tuple[int, ...]
    feature_spec: Any  # FeatureSpec (or a dict with the same content)
    embedding_version: Any
    dataset_id: str
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def float_dim(self) -> int:
        return len(self.float_names)


def synthetic_training_data(
    frames: int = 4096,
    float_dim: int = 24,
    id_vocab_sizes: tuple[int, ...] = (40, 8),
    val_frames: int = 0,
    length: int = 1,
    seed: int = 0,
) -> TrainingData:
    """Random features with labels that depend on them (so a model can learn), in memory.

    `length` > 1 makes windows of that many frames (temporal training).
    """
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(float_dim - 4)] + ["ego_x", "ego_y", "ego_facing", "ego_vel_self_x_air"]

    def split(n: int) -> SplitTensors:
        floats = rng.standard_normal((n, float_dim)).astype(np.float16)
        ids = np.stack([rng.integers(0, v, n) for v in id_vocab_sizes], axis=1).astype(np.int16)
        f32 = floats.astype(np.float32)
        labels = np.zeros((n, NUM_LABEL_COLUMNS), dtype=np.uint8)
        labels[:, :8] = (f32[:, :8] > 0.5).astype(np.uint8)
        for col in range(8, 12):
            labels[:, col] = np.clip(np.round(f32[:, col % float_dim] * 3 + 8), 0, STICK_BUCKETS - 1)
        labels[:, 12] = (ids[:, 0] % SHOULDER_BUCKETS).astype(np.uint8)
        starts = np.arange(0, n - length + 1, max(1, length // 2) if length > 1 else 1)
        return SplitTensors.from_numpy(floats, ids, labels, starts, length)

    spec = {"float_dim": float_dim, "float_names": names, "id_vocab_sizes": list(id_vocab_sizes)}
    return TrainingData(
        train=split(frames),
        val=split(val_frames) if val_frames else None,
        float_names=names,
        id_vocab_sizes=tuple(id_vocab_sizes),
        feature_spec=spec,
        embedding_version="synthetic",
        dataset_id=f"synthetic-{frames}-{float_dim}-{seed}",
        provenance={"replay_manifest_hash": None, "character_frames": {}, "synthetic": True},
    )


def manifest_hash(replay_hashes: list[str]) -> str:
    """Hash of the replays' content hashes (order-independent): identifies the training set."""
    digest = hashlib.sha256()
    for h in sorted(replay_hashes):
        digest.update(h.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def dataset_config(cfg: TrainConfig) -> Any:
    """The features' DatasetConfig for the data options of `cfg`."""
    from exphil_assets.features.dataset import DatasetConfig

    return DatasetConfig(
        player_port=cfg.player_port,
        train_character=cfg.train_character,
        dual_port=cfg.dual_port,
        max_files=cfg.max_files,
        frame_delay=cfg.frame_delay,
        val_split=cfg.val_split,
    )


def load_training_data(cfg: TrainConfig, data_root: Path, progress: bool = False) -> TrainingData:
    """Build (or reuse) the embedded dataset for `cfg` and load its splits into memory.

    Both splits share one copy of the arrays; they differ by their sample starts. With
    `temporal`, samples are windows of `window_size` rows every `stride` rows, never
    crossing a segment (replay) boundary; otherwise every row is a sample.
    """
    from exphil_assets.features.dataset import FLOATS_FILE, IDS_FILE, LABELS_FILE, build_dataset
    from exphil_assets.features.windows import window_starts

    manifest = build_dataset(data_root, dataset_config(cfg), progress=progress)
    if manifest.frames == 0:
        raise UserError(
            f"no training frames in {data_root} for these options (player_port={cfg.player_port}, "
            f"train_character={cfg.train_character!r}, max_files={cfg.max_files}); "
            f"filters: {[(r.name, r.files_removed) for r in manifest.filter_reports if r.files_removed]}"
        )
    root = manifest.path
    floats = torch.from_numpy(np.load(root / FLOATS_FILE))  # float16: converted per batch
    ids = torch.from_numpy(np.load(root / IDS_FILE).astype(np.int64))
    labels = torch.from_numpy(np.load(root / LABELS_FILE).astype(np.int64))
    length = cfg.window_size if cfg.temporal else 1
    stride = cfg.stride if cfg.temporal else 1

    def split(name: str) -> SplitTensors | None:
        segs = [seg for seg in manifest.segments if seg.split == name]
        starts = window_starts([seg.length for seg in segs], length, stride, [seg.start for seg in segs])
        if len(starts) == 0:
            return None
        return SplitTensors(floats, ids, labels, torch.from_numpy(starts), length)

    train, val = split("train"), split("val")
    if train is None:
        raise UserError(
            f"the training split has no {'window of ' + str(length) + ' frames' if length > 1 else 'frames'} "
            f"(val_split={cfg.val_split}, {len(manifest.segments)} segments)"
        )
    if cfg.val_split > 0 and val is None:
        print(
            f"warning: val_split={cfg.val_split} put no replay in validation (the split is by file, "
            f"{manifest.split_files.get('train', 0)} file(s) here); training without a validation set",
            file=sys.stderr,
        )
    spec = manifest.feature_spec
    return TrainingData(
        train=train,
        val=val,
        float_names=list(spec.float_names),
        id_vocab_sizes=tuple(spec.id_vocab_sizes),
        feature_spec=spec,
        embedding_version=manifest.embedding_version,
        dataset_id=manifest.dataset_id,
        provenance={
            "dataset_path": str(root),
            "replay_manifest_hash": manifest_hash(manifest.catalog_hashes),
            "replays_used_hash": manifest_hash(sorted({seg.sha256 for seg in manifest.segments})),
            "learner_replays": manifest.learner_replays,
            "frames": manifest.frames,
            "split_frames": manifest.split_frames,
            "split_files": manifest.split_files,
            "character_frames": manifest.character_frames,
            "opponent_character_frames": manifest.opponent_character_frames,
            "stage_frames": manifest.stage_frames,
            "dataset_config": manifest.config.to_dict(),
            "filters": [r.to_dict() for r in manifest.filter_reports],
        },
    )
