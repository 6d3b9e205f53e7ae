"""What the training loop trains on: the train/val splits plus their provenance.

`load_training_data` is the adapter between TrainConfig and the features
module: it builds (or reuses) the embedded dataset for the config's data options
and loads its splits into memory as `SplitTensors`. `synthetic_training_data`
makes a small random dataset with the same shapes, for tests and benchmarks of
the loop alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
    names = [f"f{i}" for i in range(float_dim - 4)] + ["p1_x", "p1_y", "p1_facing", "p1_vel_self_x_air"]

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


def load_training_data(cfg: TrainConfig, data_root: Path) -> TrainingData:
    """Build (or reuse) the embedded dataset for `cfg` and load its splits."""
    raise NotImplementedError("waiting for exphil_assets.features.dataset")
