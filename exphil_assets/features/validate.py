"""Check a built embedded dataset: finite features, ids and labels in range, split by file.

Streams over the memory-mapped arrays in chunks, so checking a large dataset stays
within a small, fixed amount of memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exphil_assets.features.constants import (
    LABEL_C_Y,
    LABEL_MAIN_X,
    LABEL_SHOULDER,
    NUM_BUTTONS,
    SHOULDER_BUCKETS,
    STICK_BUCKETS,
)
from exphil_assets.features.dataset import FLOATS_FILE, IDS_FILE, LABELS_FILE, DatasetManifest, load_dataset

CHUNK_ROWS = 65_536


@dataclass
class DatasetValidation:
    """What `validate_dataset` found; `problems` is empty when the dataset is sound."""

    rows_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def validate_dataset(path: str | Path | DatasetManifest) -> DatasetValidation:
    manifest = path if isinstance(path, DatasetManifest) else load_dataset(path)
    root = manifest.path
    floats = np.load(root / FLOATS_FILE, mmap_mode="r")
    ids = np.load(root / IDS_FILE, mmap_mode="r")
    labels = np.load(root / LABELS_FILE, mmap_mode="r")
    result = DatasetValidation()
    n = floats.shape[0]
    if not (ids.shape[0] == labels.shape[0] == n == manifest.frames):
        result.problems.append(
            f"row counts differ: floats {n}, ids {ids.shape[0]}, labels {labels.shape[0]}, manifest {manifest.frames}"
        )
        return result
    vocab = np.asarray(manifest.feature_spec.id_vocab_sizes)
    bad = {"non-finite floats": 0, "ids out of vocabulary": 0, "buttons not 0/1": 0, "stick class > 16": 0}
    bad["shoulder class > 4"] = 0
    for lo in range(0, n, CHUNK_ROWS):
        f = np.asarray(floats[lo : lo + CHUNK_ROWS], dtype=np.float32)
        i = np.asarray(ids[lo : lo + CHUNK_ROWS])
        lab = np.asarray(labels[lo : lo + CHUNK_ROWS])
        bad["non-finite floats"] += int((~np.isfinite(f)).any(axis=1).sum())
        bad["ids out of vocabulary"] += int(((i < 0) | (i >= vocab)).any(axis=1).sum())
        bad["buttons not 0/1"] += int((lab[:, :NUM_BUTTONS] > 1).any(axis=1).sum())
        bad["stick class > 16"] += int(
            (lab[:, LABEL_MAIN_X : LABEL_C_Y + 1] >= STICK_BUCKETS).any(axis=1).sum()
        )
        bad["shoulder class > 4"] += int((lab[:, LABEL_SHOULDER] >= SHOULDER_BUCKETS).sum())
        result.rows_checked += len(f)
    result.problems.extend(f"{rows} rows with {what}" for what, rows in bad.items() if rows)

    splits: dict[str, set[str]] = {}
    for seg in manifest.segments:
        splits.setdefault(seg.split, set()).add(seg.sha256)
    shared = splits.get("train", set()) & splits.get("val", set())
    if shared:
        result.problems.append(f"{len(shared)} replay files in both train and val, e.g. {sorted(shared)[0]}")
    covered = sorted((s.start, s.length) for s in manifest.segments)
    expected_start = 0
    for start, length in covered:
        if start != expected_start:
            result.problems.append(
                f"segments do not tile the rows: a segment starts at {start}, not {expected_start}"
            )
            break
        expected_start = start + length
    else:
        if expected_start != n:
            result.problems.append(f"segments cover {expected_start} rows, the arrays hold {n}")
    return result
