"""MLP backbone: a per-frame feed-forward stack. It carries no state; step == forward on one frame.

`--hidden 512,512` means two hidden layers of 512. The StateEncoder's projection
(features -> hidden[0], then the activation) is the first of them, so this stack adds the
layers hidden[1:], with dropout after each layer, the encoder's included. In a Policy the
encoder applies that first dropout itself (fused with its activation), so the stack's own
leading Dropout is an Identity there (`input_dropout=False`).
"""

from __future__ import annotations

import torch
from torch import nn

from exphil_assets.nets.activation import activation_module, check_activation
from exphil_assets.nets.dropout import Dropout, activate_then_drop
from exphil_assets.nets.linear import Linear


class MLPBackbone(nn.Module):
    """x [B, T, D] -> y [B, T, hidden[-1]] (D when `hidden` is empty), each frame on its own."""

    def __init__(
        self,
        input_dim: int,
        hidden: tuple[int, ...],
        dropout: float = 0.0,
        activation: str = "gelu",
        input_dropout: bool = True,
    ):
        super().__init__()
        self.activation = check_activation(activation)
        # [input dropout, then Linear, activation, Dropout per layer]: the indices of every
        # file written so far (net.1.weight, net.4.weight, ...), so the layout stays; forward
        # runs each activation module's function fused with the Dropout after it.
        layers: list[nn.Module] = [Dropout(dropout) if input_dropout else nn.Identity()]
        width = input_dim
        for size in hidden:
            layers += [Linear(width, size), activation_module(activation), Dropout(dropout)]
            width = size
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def init_state(self, batch: int, device: torch.device | str | None = None) -> tuple:
        return ()

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        return self._layers(x), ()

    def step(self, state: tuple, x: torch.Tensor) -> tuple[tuple, torch.Tensor]:
        return (), self._layers(x)

    def _layers(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net[0](x)
        for k in range(1, len(self.net), 3):  # each layer's activation and dropout run as one op
            x = activate_then_drop(self.net[k](x), self.activation, self.net[k + 2])
        return x
