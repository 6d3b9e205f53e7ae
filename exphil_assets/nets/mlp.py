"""MLP backbone: a per-frame feed-forward stack. It carries no state; step == forward on one frame."""

from __future__ import annotations

import torch
from torch import nn


class MLPBackbone(nn.Module):
    """x [B, T, D] -> y [B, T, hidden[-1]], each frame on its own."""

    def __init__(self, input_dim: int, hidden: tuple[int, ...], dropout: float = 0.0):
        super().__init__()
        if not hidden:
            raise ValueError("mlp backbone: hidden must name at least one layer size, got ()")
        layers: list[nn.Module] = []
        width = input_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.GELU(), nn.Dropout(dropout)]
            width = size
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def init_state(self, batch: int, device: torch.device | str | None = None) -> tuple:
        return ()

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        return self.net(x), ()

    def step(self, state: tuple, x: torch.Tensor) -> tuple[tuple, torch.Tensor]:
        return (), self.net(x)
