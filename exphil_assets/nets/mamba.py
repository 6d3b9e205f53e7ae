"""Mamba backbone: the selective state-space model (Gu & Dao, 2023) in pure PyTorch.

One block (`MambaMixer`), with mamba-ssm's parameter names so the same weights
load into mamba-ssm or mambapy:

    x, z = in_proj(u).chunk(2)                  # inner width E = expand_factor * d_model
    x = silu(causal depthwise conv1d(x))        # kernel conv_size, carries conv_size-1 frames
    dt, B, C = x_proj(x).split(dt_rank, N, N)   # input-dependent (selective) dt, B and C
    dt = softplus(dt_proj(dt))                  # [E]
    A = -exp(A_log)                             # [E, N], S4D-real init A = -(1..N)
    h_t = exp(dt A) h_{t-1} + dt B_t x_t ;  y_t = C_t h_t + D x_t
    out = out_proj(y * silu(z))

Blocks are pre-norm residual (RMSNorm), as in mamba-ssm. State per layer: the
last conv_size-1 pre-conv inputs and the SSM state h, so step mode costs O(1)
per frame. The SSM state is stored [B, N, E] (mamba-ssm's h transposed), the
scan's layout. The scan always runs in fp32, also under bf16 autocast.

truncate_bptt=N splits the window into chunks of N frames and detaches both the
conv and SSM state between chunks: like an RNN, no gradient reaches further
back than N frames. The forward values are unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from exphil_assets.nets.dropout import Dropout
from exphil_assets.nets.linear import Linear
from exphil_assets.nets.selective_scan import selective_scan

DT_MIN, DT_MAX, DT_FLOOR = 1e-3, 1e-1, 1e-4  # initial step sizes, as in mamba-ssm


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaMixer(nn.Module):
    """The selective SSM block: u [B, T, D] -> [B, T, D], with (conv_state, ssm_state) carried across calls."""

    def __init__(self, d_model: int, state_size: int, expand_factor: int, conv_size: int, dt_rank: int | None):
        super().__init__()
        inner = expand_factor * d_model
        self.inner, self.state_size, self.conv_size = inner, state_size, conv_size
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.in_proj = Linear(d_model, 2 * inner, bias=False)
        self.conv1d = nn.Conv1d(inner, inner, conv_size, groups=inner, padding=conv_size - 1)
        self.x_proj = Linear(inner, self.dt_rank + 2 * state_size, bias=False)
        self.dt_proj = Linear(self.dt_rank, inner)
        self.out_proj = Linear(inner, d_model, bias=False)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, state_size + 1, dtype=torch.float32)).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))
        self._init_dt()

    def _init_dt(self) -> None:
        # dt = softplus(bias) starts log-uniform in [DT_MIN, DT_MAX]: a spread of memory lengths.
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(self.inner) * (math.log(DT_MAX) - math.log(DT_MIN)) + math.log(DT_MIN))
        dt = dt.clamp(min=DT_FLOOR)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def init_state(self, batch: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        device = device if device is not None else self.A_log.device
        conv = torch.zeros(batch, self.inner, self.conv_size - 1, device=device)
        return conv, torch.zeros(batch, self.state_size, self.inner, device=device)

    def _ssm_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x [..., E] -> fp32 (dt [..., E], B [..., N], C [..., N], A [E, N])."""
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.state_size, self.state_size], dim=-1)
        dt = self.dt_proj(dt)
        with torch.autocast(device_type=x.device.type, enabled=False):
            dt = F.softplus(dt.float())
            A = -torch.exp(self.A_log.float())
        return dt, B.float(), C.float(), A

    def forward(
        self, u: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        batch, T, _ = u.shape
        conv_state, h0 = state if state is not None else self.init_state(batch, u.device)
        x, z = self.in_proj(u).chunk(2, dim=-1)
        # Causal conv over [carried frames, new frames]; the last conv_size-1 inputs carry over.
        xc = torch.cat([conv_state.to(x.dtype), x.transpose(1, 2)], dim=2)
        conv_state = xc[:, :, T:]
        x = F.silu(F.conv1d(xc, self.conv1d.weight, self.conv1d.bias, groups=self.inner)).transpose(1, 2)
        dt, B, C, A = self._ssm_inputs(x)
        with torch.autocast(device_type=u.device.type, enabled=False):
            xf = x.float()
            # The scan is time-major [T, B, ...]: each frame is one contiguous block.
            x_t, dt_t, B_t, C_t = (t.transpose(0, 1) for t in (xf, dt, B, C))
            y, h = selective_scan(x_t, dt_t, A, B_t, C_t, h0)
            y = y.transpose(0, 1) + xf * self.D.float()
        out = self.out_proj((y.to(z.dtype)) * F.silu(z))
        return out, (conv_state, h)

    def step(
        self, state: tuple[torch.Tensor, torch.Tensor], u: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        conv_state, h = state
        x, z = self.in_proj(u).chunk(2, dim=-1)
        window = torch.cat([conv_state.to(x.dtype), x.unsqueeze(-1)], dim=2)  # [B, E, conv_size]
        x = F.silu((window * self.conv1d.weight[:, 0, :]).sum(-1) + self.conv1d.bias)
        dt, B, C, A = self._ssm_inputs(x)
        with torch.autocast(device_type=u.device.type, enabled=False):
            xf = x.float()
            # SSM state h is [B, N, E], the scan's layout.
            h = torch.exp(dt.unsqueeze(1) * A.t()) * h + (dt * xf).unsqueeze(1) * B.unsqueeze(-1)
            y = torch.bmm(C.unsqueeze(1), h).squeeze(1) + xf * self.D.float()
        return (window[:, :, 1:], h), self.out_proj(y.to(z.dtype) * F.silu(z))


class ResidualBlock(nn.Module):
    """x + dropout(mixer(norm(x))): mamba-ssm's block layout (names `mixer`, `norm`)."""

    def __init__(self, d_model: int, state_size: int, expand_factor: int, conv_size: int, dt_rank: int | None,
                 dropout: float = 0.0):
        super().__init__()
        self.mixer = MambaMixer(d_model, state_size, expand_factor, conv_size, dt_rank)
        self.norm = RMSNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        y, state = self.mixer(self.norm(x), state)
        return x + self.dropout(y), state

    def step(self, state: tuple, x: torch.Tensor) -> tuple[tuple, torch.Tensor]:
        state, y = self.mixer.step(state, self.norm(x))
        return state, x + self.dropout(y)


class MambaBackbone(nn.Module):
    """x [B, T, input_dim] -> y [B, T, d_model]. State: (conv [L, B, E, conv_size-1], ssm [L, B, N, E])."""

    def __init__(
        self,
        input_dim: int,
        d_model: int,
        num_layers: int = 2,
        state_size: int = 16,
        expand_factor: int = 2,
        conv_size: int = 4,
        dt_rank: int | None = None,
        dropout: float = 0.0,
        truncate_bptt: int | None = None,
    ):
        super().__init__()
        if conv_size < 2:
            raise ValueError(f"mamba backbone: conv_size must be >= 2, got {conv_size}")
        if truncate_bptt is not None and truncate_bptt < 1:
            raise ValueError(f"mamba backbone: truncate_bptt must be >= 1 or None, got {truncate_bptt}")
        self.input_proj = Linear(input_dim, d_model) if input_dim != d_model else nn.Identity()
        self.layers = nn.ModuleList(
            ResidualBlock(d_model, state_size, expand_factor, conv_size, dt_rank, dropout) for _ in range(num_layers)
        )
        self.norm_f = RMSNorm(d_model)
        self.out_dim = d_model
        self.truncate_bptt = truncate_bptt

    def init_state(self, batch: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        per_layer = [layer.mixer.init_state(batch, device) for layer in self.layers]
        return torch.stack([c for c, _ in per_layer]), torch.stack([h for _, h in per_layer])

    def _run(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, tuple]:
        convs, ssms = [], []
        for i, layer in enumerate(self.layers):
            x, (conv, h) = layer(x, (state[0][i], state[1][i]))
            convs.append(conv)
            ssms.append(h)
        return x, (torch.stack(convs), torch.stack(ssms))

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        x = self.input_proj(x)
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        n = self.truncate_bptt
        if n is None or n >= x.shape[1] or not torch.is_grad_enabled():
            y, state = self._run(x, state)
            return self.norm_f(y), state
        outputs = []
        for start in range(0, x.shape[1], n):
            if start > 0:
                state = (state[0].detach(), state[1].detach())
            y, state = self._run(x[:, start : start + n], state)
            outputs.append(y)
        return self.norm_f(torch.cat(outputs, dim=1)), state

    def step(self, state: tuple[torch.Tensor, torch.Tensor], x: torch.Tensor) -> tuple[tuple, torch.Tensor]:
        x = self.input_proj(x)
        convs, ssms = [], []
        for i, layer in enumerate(self.layers):
            (conv, h), x = layer.step((state[0][i], state[1][i]), x)
            convs.append(conv)
            ssms.append(h)
        return (torch.stack(convs), torch.stack(ssms)), self.norm_f(x)
