"""The imitation loss: one function for training and validation.

Labels are int64 `[B, T, 13]` (ARCHITECTURE.md): columns 0-7 the buttons (0/1),
8-11 the stick buckets (main x, main y, c x, c y; 17 buckets), 12 the shoulder
bucket (5). The buttons head is 8 independent binary cross-entropies (averaged
over the buttons, so it weighs as much as one categorical head); each of the five
categorical heads is a cross-entropy with optional label smoothing. The total is
the sum of the six heads.

Losses come back as *sums over frames*: the caller divides by the number of frames
in the optimiser step, which makes gradient accumulation and sharded batches give
the same gradient as one big batch.

`imitation_loss` is the formula, on any logits. Training and validation call
`ImitationObjective`, which computes the same loss from the policy in one pass: in
fp32 through the heads' fused loss node (nets/heads_loss.py, the same values up to
rounding, and cheaper), under bf16 autocast as heads forward + `imitation_loss`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from exphil_assets.nets.heads_loss import fused_loss_applies, heads_imitation_loss

BUTTON_COLUMNS = slice(0, 8)
# head name -> label column, for the categorical heads, in autoregressive order
CATEGORICAL_HEADS: dict[str, int] = {"main_x": 8, "main_y": 9, "c_x": 10, "c_y": 11, "shoulder": 12}
HEADS: tuple[str, ...] = ("buttons", *CATEGORICAL_HEADS)
STICK_HEADS: tuple[str, ...] = ("main_x", "main_y", "c_x", "c_y")
BUTTON_NAMES: tuple[str, ...] = ("A", "B", "X", "Y", "Z", "L", "R", "D_UP")


@dataclass
class LossSums:
    """Per-head loss summed over `frames` frames (tensors with grad)."""

    heads: dict[str, torch.Tensor]
    frames: int
    stacked: torch.Tensor | None = None  # the same sums [6] in HEADS order, where they were computed together

    @classmethod
    def from_stacked(cls, sums: torch.Tensor, frames: int) -> LossSums:
        return cls(heads=dict(zip(HEADS, sums.unbind(), strict=True)), frames=frames, stacked=sums)

    @property
    def total(self) -> torch.Tensor:
        if self.stacked is not None:
            return self.stacked.sum()
        return sum(self.heads.values())  # type: ignore[return-value]

    def as_vector(self) -> torch.Tensor:
        """The per-head sums [6] in HEADS order, detached."""
        if self.stacked is not None:
            return self.stacked.detach()
        return torch.stack([self.heads[h].detach() for h in HEADS])


def imitation_loss(
    logits: dict[str, torch.Tensor], labels: torch.Tensor, label_smoothing: float = 0.0
) -> LossSums:
    """Sum over frames of each head's loss; fp32 whatever the logits' dtype."""
    frames = labels.shape[0] * labels.shape[1]
    heads: dict[str, torch.Tensor] = {}
    button_logits = logits["buttons"].float().reshape(frames, -1)
    button_targets = labels[..., BUTTON_COLUMNS].reshape(frames, -1).float()
    heads["buttons"] = F.binary_cross_entropy_with_logits(
        button_logits, button_targets, reduction="sum"
    ) / button_logits.shape[1]
    # The four stick heads (17 buckets each) in one cross-entropy over [frames, 17, 4].
    sticks = torch.stack([logits[name].float().reshape(frames, -1) for name in STICK_HEADS], dim=-1)
    stick_targets = labels[..., [CATEGORICAL_HEADS[name] for name in STICK_HEADS]].reshape(frames, -1)
    per_stick = F.cross_entropy(sticks, stick_targets, reduction="none", label_smoothing=label_smoothing).sum(0)
    heads.update(zip(STICK_HEADS, per_stick.unbind(), strict=True))
    for name, column in CATEGORICAL_HEADS.items():
        if name not in STICK_HEADS:
            heads[name] = F.cross_entropy(
                logits[name].float().reshape(frames, -1), labels[..., column].reshape(frames),
                reduction="sum", label_smoothing=label_smoothing,
            )
    return LossSums(heads={name: heads[name] for name in HEADS}, frames=frames)


class ImitationObjective(nn.Module):
    """policy, batch -> (logits, LossSums): the loss of training and validation.

    A module, so that DDP can wrap it (DDP hooks a module's forward).
    """

    def __init__(self, policy: nn.Module, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.policy = policy
        self.label_smoothing = label_smoothing

    def forward(
        self, floats: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], LossSums]:
        hidden, _ = self.policy.features(floats, ids)
        frames = labels.shape[0] * labels.shape[1]
        if fused_loss_applies(hidden):
            logits, sums = heads_imitation_loss(self.policy.heads, hidden, labels, self.label_smoothing)
            return logits, LossSums.from_stacked(sums, frames)
        logits = self.policy.heads(hidden, labels)
        with torch.autocast(hidden.device.type, enabled=False):  # the loss in fp32, as in the fused path
            return logits, imitation_loss(logits, labels, self.label_smoothing)
