"""Sliding-window attention backbone: causal self-attention over the last `window_size` frames.

Pre-norm transformer blocks (attention, then a 4x GELU MLP). Position enters
only as a learned bias per head and per distance 0..window_size-1 (initialised
as ALiBi), never as an absolute position, so step mode gives the same numbers as
the parallel forward however long the game runs.

State per layer: the keys and values of the last `window_size` frames (a
shifting buffer; slot W-1 is the newest) and how many slots are filled.
`forward` also accepts a state, so a window can continue from earlier frames.

Truncated BPTT does not apply: attention carries no recurrent state and its
gradient already reaches back at most window_size frames per layer; the
registry refuses truncate_bptt for this backbone with that message.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from exphil_assets.nets.dropout import Dropout
from exphil_assets.nets.linear import Linear

AttentionState = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # keys, values [.., B, heads, W, hd]; filled [.., B]


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """ALiBi's geometric slopes 2^(-8 i / heads): each head starts with its own recency preference."""
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / num_heads) for i in range(num_heads)])


class SlidingWindowSelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, window_size: int):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"attention: width {d_model} is not divisible by num_heads={num_heads}")
        if window_size < 1:
            raise ValueError(f"attention: window_size must be >= 1, got {window_size}")
        self.num_heads, self.head_dim, self.window = num_heads, d_model // num_heads, window_size
        self.qkv = Linear(d_model, 3 * d_model)
        self.proj = Linear(d_model, d_model)
        distance = torch.arange(window_size, dtype=torch.float32)
        self.rel_bias = nn.Parameter(-alibi_slopes(num_heads)[:, None] * distance)  # [heads, distance]

    def init_state(self, batch: int, device: torch.device | str | None = None) -> AttentionState:
        device = device if device is not None else self.proj.weight.device
        kv = torch.zeros(batch, self.num_heads, self.window, self.head_dim, device=device)
        return kv, kv.clone(), torch.zeros(batch, dtype=torch.long, device=device)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.qkv(x).split(x.shape[-1], dim=-1)
        shape = (*x.shape[:-1], self.num_heads, self.head_dim)
        # [B, T, D] -> [B, heads, T, hd]
        return tuple(t.view(shape).transpose(1, 2) for t in (q, k, v))

    def forward(self, x: torch.Tensor, state: AttentionState | None = None) -> tuple[torch.Tensor, AttentionState]:
        batch, T, D = x.shape
        W = self.window
        q, k, v = self._split(x)
        if state is None:
            past = 0
            keys, values = k, v
            filled = torch.zeros(batch, dtype=torch.long, device=x.device)
        else:
            past = W
            keys, values = torch.cat([state[0].to(k.dtype), k], 2), torch.cat([state[1].to(v.dtype), v], 2)
            filled = state[2]
        # Query i sits at position past + i of `keys`; it sees keys 0..W-1 frames back.
        qpos = torch.arange(T, device=x.device)[:, None] + past
        kpos = torch.arange(past + T, device=x.device)[None, :]
        dist = qpos - kpos
        visible = (dist >= 0) & (dist < W)  # [T, past+T]
        bias = self.rel_bias[:, dist.clamp(0, W - 1)]  # [heads, T, past+T]
        if past:
            # Carried slots j < W - filled are empty (the game started less than W frames ago).
            slot_ok = kpos >= (W - filled)[:, None]  # [B, past+T]
            visible = visible[None] & slot_ok[:, None, :]  # [B, T, past+T]
            mask = torch.where(visible[:, None], bias.to(q.dtype), float("-inf"))
        else:
            mask = torch.where(visible, bias.to(q.dtype), float("-inf"))
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        y = self.proj(y.transpose(1, 2).reshape(batch, T, D))
        if past == 0 and T < W:
            pad = k.new_zeros(batch, self.num_heads, W - T, self.head_dim)
            keys, values = torch.cat([pad, keys], 2), torch.cat([pad, values], 2)
        new_state = (keys[:, :, -W:], values[:, :, -W:], (filled + T).clamp(max=W))
        return y, new_state

    def step_newest(
        self, keys: torch.Tensor, values: torch.Tensor, slot_bias: torch.Tensor, x: torch.Tensor
    ) -> torch.Tensor:
        """One frame x [B, D] against buffers keys/values [B, heads, W, hd] already shifted by one.

        Writes this frame's key and value into slot W-1 (in place: the caller made the
        buffers for this step) and attends with slot_bias [B, heads, 1, W] (this layer's
        distance bias, -inf on empty slots). One query per head is a dot product with W
        keys: baddbmm + softmax + bmm, a third of the cost of scaled_dot_product_attention
        with a mask at batch 1.
        """
        batch, D = x.shape
        H, hd, W = self.num_heads, self.head_dim, self.window
        q, k, v = self.qkv(x).view(batch, 3, H, hd).unbind(1)
        keys[:, :, -1] = k
        values[:, :, -1] = v
        scores = torch.baddbmm(
            slot_bias.reshape(batch * H, 1, W), q.reshape(batch * H, 1, hd),
            keys.view(batch * H, W, hd).transpose(1, 2), alpha=hd**-0.5,
        )
        y = torch.bmm(scores.softmax(-1), values.view(batch * H, W, hd))
        return self.proj(y.view(batch, D))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d_model: int, num_heads: int, window_size: int, dropout: float = 0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = SlidingWindowSelfAttention(d_model, num_heads, window_size)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(Linear(d_model, 4 * d_model), nn.GELU(), Linear(4 * d_model, d_model))
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, state: AttentionState | None = None) -> tuple[torch.Tensor, AttentionState]:
        y, state = self.attn(self.ln_1(x), state)
        x = x + self.dropout(y)
        return x + self.dropout(self.mlp(self.ln_2(x))), state

    def step_newest(
        self, keys: torch.Tensor, values: torch.Tensor, slot_bias: torch.Tensor, x: torch.Tensor
    ) -> torch.Tensor:
        x = x + self.dropout(self.attn.step_newest(keys, values, slot_bias, self.ln_1(x)))
        return x + self.dropout(self.mlp(self.ln_2(x)))


class AttentionStack(nn.Module):
    """num_layers TransformerBlocks and a final LayerNorm; state stacked over layers ([L, B, ...])."""

    def __init__(self, d_model: int, num_layers: int, num_heads: int, window_size: int, dropout: float = 0.0):
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, num_heads, window_size, dropout) for _ in range(num_layers)
        )
        self.ln_f = nn.LayerNorm(d_model)

    def init_state(self, batch: int, device: torch.device | str | None = None) -> AttentionState:
        per_layer = [block.attn.init_state(batch, device) for block in self.blocks]
        return tuple(torch.stack(parts) for parts in zip(*per_layer, strict=True))

    def forward(self, x: torch.Tensor, state: AttentionState | None = None) -> tuple[torch.Tensor, AttentionState]:
        new = []
        for i, block in enumerate(self.blocks):
            x, s = block(x, None if state is None else tuple(part[i] for part in state))
            new.append(s)
        return self.ln_f(x), tuple(torch.stack(parts) for parts in zip(*new, strict=True))

    def step(self, state: AttentionState, x: torch.Tensor) -> tuple[AttentionState, torch.Tensor]:
        """One frame x [B, D]. The returned state is new; the one passed in is left untouched.

        Every layer's buffer moves one slot to the left in a single copy, then each
        layer writes its newest key and value into the last slot: at batch 1 this
        costs a third of per-layer concatenation and stacking.
        """
        keys, values, filled = state
        W = keys.shape[-2]
        new_keys, new_values = torch.empty_like(keys), torch.empty_like(values)
        new_keys[..., :-1, :] = keys[..., 1:, :]
        new_values[..., :-1, :] = values[..., 1:, :]
        new_filled = (filled + 1).clamp(max=W)
        # All layers have seen the same frames: one mask of filled slots, and one op builds
        # every layer's bias (slot j is W-1-j frames back, so the distance bias is flipped).
        slot_ok = torch.arange(W, device=x.device)[None, :] >= (W - new_filled[0])[:, None]  # [B, W]
        biases = torch.stack([block.attn.rel_bias for block in self.blocks]).flip(-1)  # [L, heads, W]
        slot_bias = torch.where(slot_ok[None, :, None, None, :], biases[:, None, :, None, :].to(x.dtype), float("-inf"))
        for i, block in enumerate(self.blocks):
            x = block.step_newest(new_keys[i], new_values[i], slot_bias[i], x)
        return (new_keys, new_values, new_filled), self.ln_f(x)


def _refuse_truncate_bptt(name: str, truncate_bptt: int | None) -> None:
    if truncate_bptt is not None:
        raise ValueError(
            f"{name} backbone: truncate_bptt={truncate_bptt} is not supported: attention has no recurrent "
            f"state to detach (its gradient reaches back at most window_size frames per layer). "
            f"Use a smaller --window-size, or truncate_bptt with lstm, gru or mamba."
        )


class SlidingWindowBackbone(nn.Module):
    """x [B, T, input_dim] -> y [B, T, d_model]. State: (keys, values [L, B, heads, W, hd], filled [L, B])."""

    def __init__(
        self,
        input_dim: int,
        d_model: int,
        num_layers: int = 2,
        num_heads: int = 4,
        window_size: int = 60,
        dropout: float = 0.0,
        truncate_bptt: int | None = None,
    ):
        super().__init__()
        _refuse_truncate_bptt("sliding_window", truncate_bptt)
        self.input_proj = Linear(input_dim, d_model) if input_dim != d_model else nn.Identity()
        self.stack = AttentionStack(d_model, num_layers, num_heads, window_size, dropout)
        self.out_dim = d_model

    def init_state(self, batch: int, device: torch.device | str | None = None) -> AttentionState:
        return self.stack.init_state(batch, device)

    def forward(self, x: torch.Tensor, state: AttentionState | None = None) -> tuple[torch.Tensor, AttentionState]:
        return self.stack(self.input_proj(x), state)

    def step(self, state: AttentionState, x: torch.Tensor) -> tuple[AttentionState, torch.Tensor]:
        return self.stack.step(state, self.input_proj(x))


