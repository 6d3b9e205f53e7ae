"""Hybrid backbone: an LSTM, then sliding-window attention over its outputs.

The LSTM summarises the long past in its state; attention lets each frame look
directly at the last `window_size` LSTM outputs. State: (h, c) of the LSTM
followed by the attention stack's (keys, values, filled), all batch on dim 1.
Truncated BPTT is refused, as for sliding_window (see attention.py).
"""

from __future__ import annotations

import torch
from torch import nn

from exphil_assets.nets.attention import AttentionStack, _refuse_truncate_bptt
from exphil_assets.nets.recurrent import RecurrentBackbone


class HybridBackbone(nn.Module):
    def __init__(
        self,
        input_dim: int,
        d_model: int,
        num_layers: int = 2,
        attention_layers: int = 1,
        num_heads: int = 4,
        window_size: int = 60,
        dropout: float = 0.0,
        truncate_bptt: int | None = None,
    ):
        super().__init__()
        _refuse_truncate_bptt("hybrid", truncate_bptt)
        self.lstm = RecurrentBackbone("lstm", input_dim, d_model, num_layers, dropout)
        self.attention = AttentionStack(d_model, attention_layers, num_heads, window_size, dropout)
        self.out_dim = d_model

    def init_state(self, batch: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
        return self.lstm.init_state(batch, device) + self.attention.init_state(batch, device)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        lstm_state, attn_state = (None, None) if state is None else (state[:2], state[2:])
        x, lstm_state = self.lstm(x, lstm_state)
        y, attn_state = self.attention(x, attn_state)
        return y, lstm_state + attn_state

    def step(self, state: tuple[torch.Tensor, ...], x: torch.Tensor) -> tuple[tuple, torch.Tensor]:
        lstm_state, x = self.lstm.step(state[:2], x)
        attn_state, y = self.attention.step(state[2:], x)
        return lstm_state + attn_state, y
