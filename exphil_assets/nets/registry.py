"""Backbone registry: one name -> one module, built from a PolicyConfig.

Every backbone has the same interface (ARCHITECTURE.md, Networks):
`forward(x [B,T,D], state=None) -> (y [B,T,H], state)`, `init_state(batch, device=None)`,
`step(state, x [B,D]) -> (state, y [B,H])` and `out_dim`. A state is a tuple of
tensors, each with the batch on dim 1 (empty for the MLP).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from exphil_assets.nets.attention import SlidingWindowBackbone
from exphil_assets.nets.hybrid import HybridBackbone
from exphil_assets.nets.mamba import MambaBackbone
from exphil_assets.nets.mlp import MLPBackbone
from exphil_assets.nets.recurrent import RecurrentBackbone

if TYPE_CHECKING:
    from exphil_assets.nets.policy import PolicyConfig

BACKBONES: tuple[str, ...] = ("mlp", "lstm", "gru", "mamba", "sliding_window", "hybrid")
TEMPORAL_BACKBONES: tuple[str, ...] = BACKBONES[1:]


def build_backbone(name: str, input_dim: int, cfg: PolicyConfig) -> nn.Module:
    """Build backbone `name` reading its sizes from `cfg` (a PolicyConfig)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; valid backbones: {', '.join(BACKBONES)}")
    width = cfg.hidden[0]
    if name == "mlp":
        # The encoder's projection to hidden[0] is the first hidden layer, and the encoder applies
        # the dropout on its output (Policy builds it with cfg.dropout; see nets/mlp.py).
        return MLPBackbone(input_dim, tuple(cfg.hidden[1:]), cfg.dropout, cfg.activation, input_dropout=False)
    if name in ("lstm", "gru"):
        return RecurrentBackbone(name, input_dim, width, cfg.num_layers, cfg.dropout, cfg.truncate_bptt)
    if name == "mamba":
        return MambaBackbone(
            input_dim, width, cfg.num_layers, cfg.state_size, cfg.expand_factor, cfg.conv_size, cfg.dt_rank,
            cfg.dropout, cfg.truncate_bptt,
        )
    if name == "sliding_window":
        return SlidingWindowBackbone(
            input_dim, width, cfg.num_layers, cfg.num_heads, cfg.window_size, cfg.dropout, cfg.truncate_bptt
        )
    return HybridBackbone(
        input_dim, width, cfg.num_layers, cfg.attention_layers, cfg.num_heads, cfg.window_size, cfg.dropout,
        cfg.truncate_bptt,
    )
