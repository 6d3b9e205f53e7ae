"""Which frames a policy is evaluated on, and how they are read.

Two sources, both through the features API (`build_dataset`, `load_dataset`,
`window_starts`), so evaluation sees exactly the features and labels training saw:
- a policy's own validation split: the dataset its run recorded
  (`provenance.dataset_id` in `..._config.json`), rebuilt from the run's settings
  if that folder is gone;
- a folder of replays: ingested into the data root, embedded with the policy's
  dataset settings, and every frame of those replays held out.

Temporal policies are fed non-overlapping windows of their training length (each
frame counted once, fresh state per window, as in training's validation); the MLP
gets single frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from exphil_assets.errors import UserError
from exphil_assets.evaluation.report import DataSource
from exphil_assets.features.dataset import (
    FLOATS_FILE,
    IDS_FILE,
    LABELS_FILE,
    DatasetConfig,
    DatasetManifest,
    Segment,
    build_dataset,
    load_dataset,
)
from exphil_assets.features.windows import window_starts
from exphil_assets.nets.policy import Policy
from exphil_assets.paths import DataPaths, resolve_data_root
from exphil_assets.replays.catalog import read_catalog
from exphil_assets.replays.ingest import find_replays, ingest_replays


@dataclass
class HeldOutFrames:
    """The held-out segments of one built dataset, read from its memory-mapped arrays."""

    manifest: DatasetManifest
    segments: list[Segment]
    source: DataSource
    temporal: bool

    def __post_init__(self) -> None:
        root = self.manifest.path
        self.floats = np.load(root / FLOATS_FILE, mmap_mode="r")
        self.ids = np.load(root / IDS_FILE, mmap_mode="r")
        self.labels = np.load(root / LABELS_FILE, mmap_mode="r")

    @property
    def float_names(self) -> tuple[str, ...]:
        return self.manifest.feature_spec.float_names

    @property
    def frames(self) -> int:
        return sum(s.length for s in self.segments)

    def window_for(self, policy: Policy) -> int:
        """Frames per forward pass: 1 for a single-frame policy, its training window otherwise."""
        return max(1, int(policy.config.window_size)) if self.temporal else 1

    def window_starts(self, window: int) -> np.ndarray:
        """Start rows of non-overlapping windows inside each held-out segment."""
        return window_starts(
            [s.length for s in self.segments], window, stride=window, offsets=[s.start for s in self.segments]
        )

    def batches(self, window: int, frames_per_batch: int) -> Iterator[dict[str, torch.Tensor]]:
        """Batches `floats [B,W,F]` float32, `ids [B,W,K]` int64, `labels [B,W,13]` int64, in row order."""
        starts = self.window_starts(window)
        per_batch = max(1, frames_per_batch // window)
        steps = np.arange(window, dtype=np.int64)
        for lo in range(0, len(starts), per_batch):
            rows = np.add.outer(starts[lo : lo + per_batch], steps)
            yield {
                "floats": torch.from_numpy(self.floats[rows].astype(np.float32)),
                "ids": torch.from_numpy(self.ids[rows].astype(np.int64)),
                "labels": torch.from_numpy(self.labels[rows].astype(np.int64)),
            }

    def num_batches(self, window: int, frames_per_batch: int) -> int:
        per_batch = max(1, frames_per_batch // window)
        return -(-len(self.window_starts(window)) // per_batch)

    def sequence(self, frames: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Up to `frames` consecutive rows of the longest held-out segment (one game, in order)."""
        longest = max(self.segments, key=lambda s: s.length)
        lo, hi = longest.start, longest.start + min(frames, longest.length)
        return (
            torch.from_numpy(self.floats[lo:hi].astype(np.float32)),
            torch.from_numpy(self.ids[lo:hi].astype(np.int64)),
            torch.from_numpy(self.labels[lo:hi].astype(np.int64)),
        )


def _first_files(segments: list[Segment], max_files: int | None) -> list[Segment]:
    """The segments of the first `max_files` replays by path (all where None)."""
    if max_files is None:
        return segments
    if max_files < 1:
        raise UserError(f"--max-files must be at least 1, got {max_files}")
    kept = {sha for _, sha in sorted({(s.path, s.sha256) for s in segments})[:max_files]}
    return [s for s in segments if s.sha256 in kept]


def _is_temporal(policy: Policy, config: dict[str, Any]) -> bool:
    training = config.get("training") or {}
    if "temporal" in training:
        return bool(training["temporal"]) or policy.config.backbone != "mlp"
    return policy.config.backbone != "mlp"


def dataset_config_of(meta: dict[str, Any], config: dict[str, Any]) -> DatasetConfig:
    """The dataset settings a policy was trained with (defaults where the run recorded none)."""
    provenance = config.get("provenance") or {}
    recorded = provenance.get("dataset_config") or config.get("training") or {}
    dataset = DatasetConfig.from_dict(recorded)
    with_prev = bool((meta.get("feature_spec") or {}).get("with_prev_action", dataset.with_prev_action))
    return dataclasses.replace(dataset, with_prev_action=with_prev)


def _check_features(manifest: DatasetManifest, meta: dict[str, Any], policy_name: str) -> None:
    expected = (meta.get("feature_spec") or {}).get("float_dim")
    if expected is not None and int(expected) != manifest.feature_spec.float_dim:
        raise UserError(
            f"policy {policy_name} reads {expected} float features but dataset {manifest.path} has "
            f"{manifest.feature_spec.float_dim}; they were built with different feature settings"
        )


def own_split(
    policy: Policy,
    meta: dict[str, Any],
    config: dict[str, Any],
    data_root: Path,
    split: str,
    max_files: int | None,
    policy_name: str,
) -> HeldOutFrames:
    """The `split` segments of the dataset the policy was trained on (of its first `max_files` replays)."""
    provenance = config.get("provenance") or {}
    ds_id = provenance.get("dataset_id") or meta.get("dataset_id")
    folder = DataPaths(data_root).dataset(ds_id) if ds_id else None
    if folder is not None and folder.is_dir():
        manifest = load_dataset(folder)
    else:
        if not DataPaths(data_root).catalog.exists():
            raise UserError(
                f"no dataset for policy {policy_name} under {data_root} (no catalog there); "
                "pass --data DIR of its training data root, or --replays DIR of held-out replays"
            )
        manifest = build_dataset(data_root, dataset_config_of(meta, config))
    _check_features(manifest, meta, policy_name)
    segments = _first_files([s for s in manifest.segments if s.split == split], max_files)
    if not segments:
        raise UserError(
            f"policy {policy_name}: its dataset {manifest.dataset_id} has no {split!r} frames "
            f"(trained with val_split={manifest.config.val_split}); pass --replays DIR of held-out "
            "replays, or train with --val-split"
        )
    source = _data_source("dataset", str(manifest.path), manifest.dataset_id, split, segments)
    return HeldOutFrames(manifest, segments, source, _is_temporal(policy, config))


def replay_folder(
    policy: Policy,
    meta: dict[str, Any],
    config: dict[str, Any],
    data_root: Path,
    replays: Path,
    max_files: int | None,
    policy_name: str,
    progress: bool = False,
) -> HeldOutFrames:
    """Every frame of the replays under `replays` (at most `max_files` of them, by path)."""
    files = find_replays(replays)
    ingest_replays(files, data_root, progress=progress)
    catalog = read_catalog(data_root).filter(pl.col("path").is_in([str(f) for f in files]))
    hashes = set(catalog.get_column("sha256").drop_nulls().to_list())
    # Everything held out: no validation split, no file limit at build time (applied below).
    dataset_cfg = dataclasses.replace(dataset_config_of(meta, config), val_split=0.0, max_files=None)
    manifest = build_dataset(data_root, dataset_cfg, progress=progress)
    _check_features(manifest, meta, policy_name)
    segments = _first_files([s for s in manifest.segments if s.sha256 in hashes], max_files)
    if not segments:
        raise UserError(
            f"no usable frames in {replays} for policy {policy_name}: every replay was quarantined "
            f"or filtered out by its dataset settings (player port {dataset_cfg.player_port})"
        )
    source = _data_source("replays", str(Path(replays).resolve()), manifest.dataset_id, "all", segments)
    return HeldOutFrames(manifest, segments, source, _is_temporal(policy, config))


def _data_source(kind: str, path: str, dataset_id: str, split: str, segments: list) -> DataSource:
    """Where held-out frames came from, with the files and frames the segments cover."""
    return DataSource(
        kind=kind,
        path=path,
        dataset_id=dataset_id,
        split=split,
        files=len({s.sha256 for s in segments}),
        frames=sum(s.length for s in segments),
    )


def load_held_out(
    policy: Policy,
    meta: dict[str, Any],
    config: dict[str, Any],
    data_root: str | Path | None,
    replays: str | Path | None,
    max_files: int | None,
    split: str,
    policy_name: str = "",
    progress: bool = False,
) -> HeldOutFrames:
    """A replay folder when given, else the policy's own `split`."""
    root = resolve_data_root(data_root)
    name = policy_name or str(meta.get("run", "policy"))
    if replays is not None:
        return replay_folder(policy, meta, config, root, Path(replays), max_files, name, progress)
    return own_split(policy, meta, config, root, split, max_files, name)
