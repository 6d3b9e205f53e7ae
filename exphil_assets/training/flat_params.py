"""A model's trainable parameters as views into one buffer, and their gradients gathered into another.

Gradient clipping and AdamW then run as a handful of whole-buffer ops instead of a
loop over every tensor: on the CPU, torch's foreach kernels fall back to one small
parallel region per tensor, and for the 512x512 MLP policy clipping plus the
optimiser step cost as much as its largest layer's backward pass.

The model keeps its parameters (same names, shapes and state_dict); only their
storage moves. Backward passes fill each parameter's own `.grad` as usual (autograd
hands over the buffer it computed, no copy); `gather_grads()` copies them into the
flat gradient in one op before clipping, and `zero_grad()` drops them. That moves
half the bytes of zeroing a flat gradient and accumulating every tensor into it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from exphil_assets.nets.cpu_kernels import cpu_kernels


class FlatParameters:
    """The trainable parameters of `model`, re-homed into `self.param`, with a flat gradient `self.grad`."""

    def __init__(self, model: nn.Module) -> None:
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("FlatParameters: the model has no trainable parameters")
        dtypes = {(p.dtype, p.device) for p in params}
        if len(dtypes) != 1:
            raise ValueError(f"FlatParameters: parameters must share one dtype and device, got {sorted(map(str, dtypes))}")
        total = sum(p.numel() for p in params)
        data = torch.empty(total, dtype=params[0].dtype, device=params[0].device)
        offset = 0
        for p in params:
            n = p.numel()
            data[offset : offset + n].copy_(p.detach().reshape(-1))
            p.data = data[offset : offset + n].view_as(p)
            p.grad = None
            offset += n
        self.params = params
        self._sizes = [p.numel() for p in params]
        # The optimiser's one parameter: a leaf that shares the storage of every model parameter.
        self.param = nn.Parameter(data)
        self.param.grad = torch.zeros_like(data)
        self._gathered_norm: torch.Tensor | None = None  # set by gather_grads where it comes for free

    @property
    def grad(self) -> torch.Tensor:
        return self.param.grad

    @torch.no_grad()
    def gather_grads(self) -> torch.Tensor:
        """Copy every parameter's .grad into the flat gradient (zeros for a parameter that got none).

        On the CPU with the compiled kernels, the same pass sums the squares, and the next
        clip_grad_norm_ uses that norm instead of reading the 2 MB gradient again.
        """
        grads = [p.grad for p in self.params]
        kernels = cpu_kernels() if self.param.device.type == "cpu" and self.param.dtype == torch.float32 else None
        if kernels is not None and all(g is None or (g.is_contiguous() and g.device.type == "cpu") for g in grads):
            sum_of_squares = kernels.gather_sum_of_squares(grads, self._sizes, self.param.grad)
            self._gathered_norm = torch.tensor(math.sqrt(sum_of_squares), dtype=self.param.dtype)
            return self.param.grad
        parts = [
            g.reshape(-1) if g is not None else torch.zeros_like(p).reshape(-1)
            for g, p in zip(grads, self.params, strict=True)
        ]
        torch.cat(parts, out=self.param.grad)
        self._gathered_norm = None
        return self.param.grad

    def zero_grad(self) -> None:
        """Drop the parameters' gradients: the next backward hands over fresh buffers."""
        for p in self.params:
            p.grad = None
        self._gathered_norm = None

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float, optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor:
        """Scale the flat gradient to norm <= max_norm (as torch.nn.utils.clip_grad_norm_); returns the norm before.

        With a fused Adam or AdamW `optimizer`, the scaling rides on its next step instead:
        its `grad_scale` (the hook torch's GradScaler uses) divides each gradient as the
        step reads it and writes it back scaled. That saves a pass over the whole gradient
        on the ~3/4 of the 512-wide MLP's steps that clip.
        """
        norm = self._gathered_norm if self._gathered_norm is not None else torch.linalg.vector_norm(self.grad)
        self._gathered_norm = None  # the gradient may change before another call
        fused = optimizer is not None and bool(optimizer.defaults.get("fused"))
        if fused:
            optimizer.grad_scale = None  # type: ignore[attr-defined]
        # Only a gradient that is too long is touched.
        if math.isfinite(max_norm) and float(norm) > max_norm:
            if fused:
                optimizer.grad_scale = (norm + 1e-6) / max_norm  # type: ignore[attr-defined]
            else:
                self.grad.mul_(max_norm / (float(norm) + 1e-6))
        return norm

    def check_views(self) -> None:
        """Raise if something replaced a parameter's data (the optimiser would no longer update it)."""
        base = self.param.untyped_storage().data_ptr()
        for p in self.params:
            if p.untyped_storage().data_ptr() != base:
                raise RuntimeError("FlatParameters: a parameter's data left the flat buffer")
