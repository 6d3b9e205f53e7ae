"""Linear layers whose large fp32 CPU matmuls run on oneDNN instead of MKL.

torch sends fp32 CPU matmuls to MKL, and MKL runs its AVX2 kernels on any CPU that
is not Intel's: on a Zen 5 EPYC with AVX-512 it reaches ~180 GFLOP/s on 2 cores,
where oneDNN (also inside torch) reaches ~400 with the same fp32 arithmetic. On a Zen 4
EPYC a whole 512x512 training step runs as fast either way (README, "Performance");
on an Intel CPU the two should be close. oneDNN costs ~12 us more per call, so only
products of at least `ONEDNN_MIN_MACS` multiply-adds take it: training batches do, a
play step at batch 1 does not.

The forward and both backward products (input and weight gradients) go through
the same oneDNN op; results differ from MKL's by fp32 rounding only. The path is
chosen from the shapes alone, so a run and its resume pick the same kernels. It
is skipped under autocast (bf16 already runs on oneDNN), off x86-64, and when
`torch.backends.mkldnn.enabled` is False.
"""

from __future__ import annotations

import platform

import torch
import torch.nn.functional as F
from torch import nn

from exphil_assets.nets.cpu_kernels import cpu_kernels

ONEDNN_MIN_MACS = 1 << 21  # rows x in x out; below this oneDNN's fixed cost outweighs its speed
_X86 = platform.machine().lower() in ("x86_64", "amd64")


def _onednn_op():
    op = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None
    return op if _X86 else None


_LINEAR_POINTWISE = _onednn_op()


def _mm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x [M, K] @ weight[N, K].T (+ bias) on oneDNN; either may be a transposed view."""
    return _LINEAR_POINTWISE(_row_major(x), weight, bias, "none", [], "")


def _row_major(x: torch.Tensor) -> torch.Tensor:
    """x, contiguous. oneDNN copies a transposed input itself, as torch does, ~3x slower than the tiled kernel."""
    if x.is_contiguous():
        return x
    kernels = cpu_kernels()
    if kernels is not None and x.dim() == 2 and x.t().is_contiguous():
        return kernels.transpose(x.t())
    return x.contiguous()


class _OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        x = x.contiguous()
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _mm(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = _mm(grad, weight.t(), None) if need_x else None  # grad @ W
        grad_w = _mm(grad.t(), x.t(), None) if need_w else None  # grad.T @ x
        grad_b = grad.sum(0) if ctx.has_bias and need_b else None
        return grad_x, grad_w, grad_b


def uses_onednn(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether `linear(x, weight)` takes the oneDNN path."""
    return (
        x.numel() * weight.shape[0] >= ONEDNN_MIN_MACS  # first: a play step stops here, at no cost
        and _LINEAR_POINTWISE is not None
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.shape[-1] == weight.shape[-1]  # else F.linear raises its own shape error
        and torch.backends.mkldnn.enabled
        and not torch.is_autocast_enabled("cpu")
    )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear, with large fp32 CPU products on oneDNN. x [..., K], weight [N, K] -> [..., N]."""
    if not uses_onednn(x, weight):
        return F.linear(x, weight, bias)
    lead = x.shape[:-1]
    out = _OneDNNLinear.apply(x.reshape(-1, x.shape[-1]), weight, bias)
    return out.view(*lead, weight.shape[0])


def linear_no_grad(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x [M, K] @ weight[N, K].T (+ bias), recording no graph: for hand-written backward passes.

    Either operand may be a transposed view (F.linear(g.t(), x.t()) is the weight gradient g.T @ x).
    """
    if not uses_onednn(x, weight):
        return F.linear(x, weight, bias)
    if not (weight.is_contiguous() or weight.t().is_contiguous()):
        weight = weight.contiguous()  # oneDNN runs ~100x slower on other strides (a column slice, transposed)
    return _mm(x, weight, bias)


class Linear(nn.Linear):
    """nn.Linear (same parameters and state_dict) whose forward uses `linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() * self.out_features < ONEDNN_MIN_MACS:  # a play step: no detour
            return F.linear(x, self.weight, self.bias)
        return linear(x, self.weight, self.bias)
