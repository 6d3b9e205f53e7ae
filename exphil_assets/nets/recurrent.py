"""LSTM and GRU backbones (nn.LSTM / nn.GRU), with optional truncated BPTT.

State: a tuple of tensors with the batch on dim 1, (h, c) for LSTM and (h,) for
GRU, each [num_layers, B, hidden].

truncate_bptt=N runs the window in chunks of N frames and detaches the
recurrent state between chunks, so no gradient flows back more than N frames
(chunks start at frame 0 of the window). The forward values are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class RecurrentBackbone(nn.Module):
    """kind 'lstm' or 'gru': x [B, T, D] -> y [B, T, hidden]."""

    def __init__(
        self,
        kind: str,
        input_dim: int,
        hidden: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        truncate_bptt: int | None = None,
    ):
        super().__init__()
        rnn_types = {"lstm": nn.LSTM, "gru": nn.GRU}
        if kind not in rnn_types:
            raise ValueError(f"RecurrentBackbone: kind must be one of {tuple(rnn_types)}, got {kind!r}")
        if truncate_bptt is not None and truncate_bptt < 1:
            raise ValueError(f"{kind} backbone: truncate_bptt must be >= 1 or None, got {truncate_bptt}")
        self.kind = kind
        self.rnn = rnn_types[kind](
            input_dim, hidden, num_layers=num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.num_layers = num_layers
        self.out_dim = hidden
        self.truncate_bptt = truncate_bptt

    def init_state(self, batch: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
        device = device if device is not None else self.rnn.weight_ih_l0.device
        zeros = torch.zeros(self.num_layers, batch, self.out_dim, device=device)
        return (zeros, zeros.clone()) if self.kind == "lstm" else (zeros,)

    def _run(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple]:
        y, new = self.rnn(x, state if self.kind == "lstm" else state[0])
        return y, (tuple(new) if self.kind == "lstm" else (new,))

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        n = self.truncate_bptt
        if n is None or n >= x.shape[1] or not torch.is_grad_enabled():
            return self._run(x, state)
        outputs = []
        for start in range(0, x.shape[1], n):
            if start > 0:
                state = tuple(s.detach() for s in state)
            y, state = self._run(x[:, start : start + n], state)
            outputs.append(y)
        return torch.cat(outputs, dim=1), state

    def step(self, state: tuple[torch.Tensor, ...], x: torch.Tensor) -> tuple[tuple, torch.Tensor]:
        # One frame through the fused cells with nn.LSTM/nn.GRU's own weights: at batch 1 the
        # oneDNN sequence kernel behind nn.LSTM costs ~0.65 ms per layer, the cell ~0.08 ms.
        hs, cs = [], []
        for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.rnn.all_weights):
            if self.kind == "lstm":
                h, c = torch.lstm_cell(x, (state[0][layer], state[1][layer]), w_ih, w_hh, b_ih, b_hh)
                cs.append(c)
            else:
                h = torch.gru_cell(x, state[0][layer], w_ih, w_hh, b_ih, b_hh)
            hs.append(h)
            x = h
        return ((torch.stack(hs), torch.stack(cs)) if self.kind == "lstm" else (torch.stack(hs),)), x
