"""Learning-rate schedules: a multiplier of the peak lr per optimiser step.

Warmup is linear: step s < warmup gets (s + 1) / warmup, so the first step already
moves and step `warmup - 1` reaches the peak. After warmup, the decay progress is
p = (s - warmup) / (decay_steps - warmup), clamped to [0, 1]; `decay_steps` is the
step where the decay ends and defaults to the run's total number of steps.

    constant          1
    linear            1 - (1 - m) p
    cosine            m + (1 - m) (1 + cos(pi p)) / 2
    exponential       r ** p                  (r = exp_decay_rate, the factor at p = 1)
    cosine_restarts   cosine within cycles of `restart_steps` steps (SGDR, no decay of the peak)

with m = min_lr_ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Schedule:
    """A schedule resolved against the run's length."""

    kind: str
    warmup_steps: int
    decay_steps: int
    min_lr_ratio: float = 0.0
    exp_decay_rate: float = 0.01
    restart_steps: int | None = None

    def factor(self, step: int) -> float:
        """Multiplier of the peak lr at optimiser step `step` (0-based)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return 1.0
        span = max(1, self.decay_steps - self.warmup_steps)
        since = step - self.warmup_steps
        m = self.min_lr_ratio
        if self.kind == "cosine_restarts":
            cycle = self.restart_steps or max(1, span // 4)
            p = (since % cycle) / cycle
            return m + (1 - m) * 0.5 * (1 + math.cos(math.pi * p))
        p = min(1.0, since / span)
        if self.kind == "linear":
            return 1 - (1 - m) * p
        if self.kind == "cosine":
            return m + (1 - m) * 0.5 * (1 + math.cos(math.pi * p))
        if self.kind == "exponential":
            return self.exp_decay_rate**p
        raise ValueError(f"unknown lr schedule {self.kind!r}")


def make_schedule(
    kind: str,
    total_steps: int,
    warmup_steps: int = 0,
    decay_steps: int | None = None,
    min_lr_ratio: float = 0.0,
    exp_decay_rate: float = 0.01,
    restart_steps: int | None = None,
) -> Schedule:
    """Resolve a schedule; `decay_steps=None` means the decay ends at the last step."""
    return Schedule(
        kind=kind,
        warmup_steps=warmup_steps,
        decay_steps=decay_steps if decay_steps is not None else max(total_steps, warmup_steps + 1),
        min_lr_ratio=min_lr_ratio,
        exp_decay_rate=exp_decay_rate,
        restart_steps=restart_steps,
    )



def set_lr(optimizer: torch.optim.Optimizer, peak_lr: float, schedule: Schedule, step: int) -> float:
    """Set every param group's lr for optimiser step `step`; returns it.

    The lr is a pure function of the step, so a resumed run needs only the step
    (saved with the schedule in the checkpoint) to continue the same curve.
    """
    lr = peak_lr * schedule.factor(step)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
