"""Exponential moving average of the weights, updated after every optimiser step.

shadow <- d * shadow + (1 - d) * weights, with d = min(decay, (1 + n) / (10 + n)) at
update n: the warm-up keeps the average from being dominated by the random
initial weights in short runs (the same rule as timm's ModelEmaV2 warm-up).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class WeightEMA:
    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = {
            k: v.detach().clone().float() if v.is_floating_point() else v.detach().clone()
            for k, v in model.state_dict().items()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        state = model.state_dict()
        floats = [k for k, v in state.items() if v.is_floating_point()]
        torch._foreach_lerp_([self.shadow[k] for k in floats], [state[k].float() for k in floats], 1 - d)
        for k, v in state.items():
            if not v.is_floating_point():
                self.shadow[k].copy_(v)

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the averaged weights into `model` (for validation / export)."""
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(saved)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay = state["decay"]
        self.updates = state["updates"]
        # Onto the device of the live shadow (the model's): checkpoints hold CPU copies.
        self.shadow = {k: v.to(self.shadow[k].device if k in self.shadow else v.device, copy=True)
                       for k, v in state["shadow"].items()}
