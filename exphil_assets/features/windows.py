"""Windows over the embedded dataset: valid starts per replay, a torch Dataset, fast batches.

The arrays stay memory-mapped (`np.load(mmap_mode="r")`): a window is a range of rows,
and a batch gathers only its own rows, so memory does not grow with the window size.
Windows never cross segment (replay) boundaries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from exphil_assets.errors import UserError
from exphil_assets.features.dataset import (
    FLOATS_FILE,
    IDS_FILE,
    LABELS_FILE,
    SPLITS,
    DatasetManifest,
    load_dataset,
)
from exphil_assets.features.state import FeatureSpec

Batch = dict[str, torch.Tensor]


def window_starts(
    lengths: Sequence[int] | np.ndarray,
    window: int,
    stride: int = 1,
    offsets: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Start rows (int64) of every window of `window` rows inside each segment.

    Segment i covers rows `offsets[i] .. offsets[i] + lengths[i]` (offsets default to the
    segments laid back to back). A segment shorter than `window` gives no window.
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    lengths = np.asarray(lengths, dtype=np.int64)
    if offsets is None:
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
    offsets = np.asarray(offsets, dtype=np.int64)
    parts = [
        off + np.arange(0, n - window + 1, stride, dtype=np.int64)
        for off, n in zip(offsets, lengths, strict=True)
        if n >= window
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class EmbeddedDataset(Dataset):
    """Windows of one split of a built dataset; items are dicts of tensors.

    `window=None` gives single frames with a time axis of 1 (the MLP's T = 1). Items:
    `floats [W, F]` float32, `ids [W, K]` int64, `labels [W, 13]` int64.
    """

    def __init__(
        self,
        path: str | Path | DatasetManifest,
        split: str = "train",
        window: int | None = None,
        stride: int = 1,
    ) -> None:
        self.manifest = path if isinstance(path, DatasetManifest) else load_dataset(path)
        if split not in (*SPLITS, "all"):
            raise UserError(f"split must be one of {', '.join((*SPLITS, 'all'))}, got {split!r}")
        self.split = split
        self.window = 1 if window is None else int(window)
        self._open_arrays()
        segs = [s for s in self.manifest.segments if split == "all" or s.split == split]
        self.starts = window_starts([s.length for s in segs], self.window, stride, [s.start for s in segs])
        self._steps = np.arange(self.window, dtype=np.int64)

    def _open_arrays(self) -> None:
        root = self.manifest.path
        self.floats = np.load(root / FLOATS_FILE, mmap_mode="r")
        self.ids = np.load(root / IDS_FILE, mmap_mode="r")
        self.labels = np.load(root / LABELS_FILE, mmap_mode="r")

    def __getstate__(self) -> dict:
        # DataLoader workers get the paths, not a pickled copy of the memory-mapped arrays.
        state = self.__dict__.copy()
        for name in ("floats", "ids", "labels"):
            state.pop(name)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open_arrays()

    @property
    def feature_spec(self) -> FeatureSpec:
        return self.manifest.feature_spec

    @property
    def frames(self) -> int:
        """Labelled frames in this split (rows), whatever the window."""
        return sum(s.length for s in self.manifest.segments if self.split == "all" or s.split == self.split)

    def __len__(self) -> int:
        return len(self.starts)

    def _gather(self, starts: np.ndarray) -> Batch:
        rows = np.add.outer(starts, self._steps)  # [B, W] row numbers
        return {
            "floats": torch.from_numpy(self.floats[rows].astype(np.float32)),
            "ids": torch.from_numpy(self.ids[rows].astype(np.int64)),
            "labels": torch.from_numpy(self.labels[rows].astype(np.int64)),
        }

    def __getitem__(self, index: int) -> Batch:
        item = self._gather(self.starts[index : index + 1] if index >= 0 else self.starts[[index]])
        return {k: v[0] for k, v in item.items()}

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        n = len(self)
        return n // batch_size if drop_last else -(-n // batch_size)

    def iter_batches(
        self, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> Iterator[Batch]:
        """Whole batches gathered with one numpy fancy index each: `[B, W, ...]` tensors."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        for lo in range(0, len(order), batch_size):
            chosen = order[lo : lo + batch_size]
            if drop_last and len(chosen) < batch_size:
                return
            # Sorted rows read the memory map in order; the batch order itself does not matter.
            yield self._gather(np.sort(self.starts[chosen]))
