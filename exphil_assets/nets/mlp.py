"""MLP backbone: a per-frame feed-forward stack. It carries no state; step == forward on one frame.

`--hidden 512,512` means two hidden layers of 512. The StateEncoder's projection
(features -> hidden[0], then the activation) is the first of them, so this stack adds the
layers hidden[1:], with dropout after each layer, the encoder's included.
"""

from __future__ import annotations

import torch
from torch import nn

from exphil_assets.nets.activation import activation_module
from exphil_assets.nets.dropout import Dropout
from exphil_assets.nets.linear import Linear


class MLPBackbone(nn.Module):
    """x [B, T, D] -> y [B, T, hidden[-1]] (D when `hidden` is empty), each frame on its own."""

    def __init__(self, input_dim: int, hidden: tuple[int, ...], dropout: float = 0.0, activation: str = "gelu"):
        super().__init__()
        layers: list[nn.Module] = [Dropout(dropout)]
        width = input_dim
        for size in hidden:
            layers += [Linear(width, size), activation_module(activation), Dropout(dropout)]
            width = size
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def init_state(self, batch: int, device: torch.device | str | None = None) -> tuple:
        return ()

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        return self.net(x), ()

    def step(self, state: tuple, x: torch.Tensor) -> tuple[tuple, torch.Tensor]:
        return (), self.net(x)
