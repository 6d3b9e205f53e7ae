"""Training samples in memory, and the order they are visited in.

A split is held as three tensors over all its frames (floats, ids, labels) plus
`starts`, the row where each sample begins: every frame for the MLP (T = 1), the
window starts for temporal training (T = window_size; windows never cross a
replay). A batch is one vectorised gather, `rows = starts[idx, None] + arange(T)`;
there is no per-sample Python work and no DataLoader.

The visiting order is a pure function of (seed, epoch), so a resumed run sees the
same batches as an uninterrupted one, and skipping k batches resumes mid-epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from exphil_assets.errors import UserError


@dataclass
class SplitTensors:
    """One split (train or val): frame arrays plus sample start rows."""

    floats: torch.Tensor  # [N, F] float16 or float32
    ids: torch.Tensor  # [N, K] int64
    labels: torch.Tensor  # [N, 13] int64
    starts: torch.Tensor  # [S] int64, first row of each sample
    length: int = 1  # frames per sample (T)

    @property
    def num_samples(self) -> int:
        return int(self.starts.shape[0])

    @property
    def num_frames(self) -> int:
        return self.num_samples * self.length

    @classmethod
    def from_numpy(
        cls, floats: np.ndarray, ids: np.ndarray, labels: np.ndarray, starts: np.ndarray, length: int = 1
    ) -> SplitTensors:
        """Copy (possibly memory-mapped) arrays into RAM once; batches then gather from RAM."""
        return cls(
            floats=torch.from_numpy(np.ascontiguousarray(floats)),
            ids=torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)),
            labels=torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
            starts=torch.from_numpy(np.ascontiguousarray(starts, dtype=np.int64)),
            length=length,
        )

    def gather(self, sample_idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batch of samples `sample_idx`: floats [B,T,F] float32, ids [B,T,K], labels [B,T,13] int64."""
        first = self.starts[sample_idx]
        if self.length == 1:
            rows = first
            shape = (sample_idx.shape[0], 1)
        else:
            rows = (first[:, None] + torch.arange(self.length)).reshape(-1)
            shape = (sample_idx.shape[0], self.length)
        return {
            "floats": self.floats.index_select(0, rows).float().reshape(*shape, -1),
            "ids": self.ids.index_select(0, rows).reshape(*shape, -1),
            "labels": self.labels.index_select(0, rows).reshape(*shape, -1),
        }


def epoch_order(num_samples: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    """The samples of epoch `epoch` in visiting order: a pure function of (seed, epoch)."""
    if not shuffle:
        return torch.arange(num_samples)
    rng = np.random.default_rng([seed, epoch])
    return torch.from_numpy(rng.permutation(num_samples))


def micro_batches(order: torch.Tensor, batch_size: int, multiple_of: int = 1) -> list[torch.Tensor]:
    """Split an order into micro-batches of `batch_size` (the last may be shorter).

    `multiple_of` (the DDP world size) rounds the batch size down to a multiple of it,
    so every rank gets the same number of samples; the tail is trimmed the same way.
    """
    size = batch_size - batch_size % multiple_of
    if size < 1:
        raise UserError(f"--batch-size {batch_size} is smaller than the {multiple_of} processes sharing it")
    batches = []
    for i in range(0, order.shape[0], size):
        batch = order[i : i + size]
        keep = batch.shape[0] - batch.shape[0] % multiple_of
        if keep > 0:
            batches.append(batch[:keep])
    return batches


def steps_per_epoch(num_samples: int, batch_size: int, accumulation_steps: int, multiple_of: int = 1) -> int:
    """Optimiser steps in one epoch (the last step may accumulate fewer micro-batches)."""
    n = len(micro_batches(torch.arange(num_samples), batch_size, multiple_of))
    return -(-n // accumulation_steps)


def split_into_passes(batch: dict[str, torch.Tensor], max_frames: int) -> list[dict[str, torch.Tensor]]:
    """A micro-batch cut along its samples into passes of at most `max_frames` frames (the last may be shorter).

    Each pass is one forward/backward; their loss sums add up to the micro-batch's, so
    the gradient is the same while the activations held at once stay near `max_frames`
    frames' worth whatever the window. The parts are views of the batch (no copy).
    """
    length = batch["labels"].shape[1]
    per_pass = max_frames // length
    if per_pass < 1:
        raise UserError(f"--max-frames-per-pass {max_frames} is shorter than one sample ({length} frames)")
    columns = {name: t.split(per_pass) for name, t in batch.items()}
    return [{name: parts[i] for name, parts in columns.items()} for i in range(len(columns["labels"]))]
