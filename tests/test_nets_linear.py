"""nets.linear: large fp32 CPU products on oneDNN, with the arithmetic of F.linear."""

from __future__ import annotations

import platform

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from exphil_assets.nets import linear as linear_module
from exphil_assets.nets.linear import ONEDNN_MIN_MACS, Linear, linear, uses_onednn

needs_onednn = pytest.mark.skipif(
    linear_module._LINEAR_POINTWISE is None,
    reason=f"no oneDNN linear op in this torch build on {platform.machine()}: linear() is F.linear here",
)


def _tensors(lead: tuple[int, ...], k: int, n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*lead, k, generator=g, requires_grad=True)
    w = torch.randn(n, k, generator=g, requires_grad=True)
    b = torch.randn(n, generator=g, requires_grad=True)
    return x, w, b


@needs_onednn
@pytest.mark.parametrize("lead", [(256,), (8, 60)])
def test_onednn_path_matches_f_linear_forward_and_gradients(lead):
    x, w, b = _tensors(lead, 222, 512)
    assert uses_onednn(x, w)
    out = linear(x, w, b)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    ours = [out.detach()] + [t.grad.clone() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    ref_out = F.linear(x, w, b)
    ref_out.backward(grad_out)
    reference = [ref_out.detach()] + [t.grad for t in (x, w, b)]
    assert out.shape == (*lead, 512)
    for name, a, r in zip(("out", "grad x", "grad w", "grad b"), ours, reference, strict=True):
        # fp32 rounding only: the two libraries sum in different orders.
        assert torch.allclose(a, r, rtol=1e-5, atol=1e-4 * float(r.abs().max())), name


@needs_onednn
def test_onednn_path_reads_weights_updated_in_place():
    # The optimiser updates weights in place; a cached copy of them would go stale.
    x, w, _ = _tensors((256,), 512, 512)
    first = linear(x, w.detach())
    with torch.no_grad():
        w.mul_(2.0)
    second = linear(x, w.detach())
    assert torch.allclose(second, 2.0 * first, rtol=1e-5, atol=1e-3)


@needs_onednn
def test_transposed_weight_view_is_read_as_its_values():
    x, w, _ = _tensors((256,), 512, 512)
    wt = w.detach().t()  # what the backward passes: a transposed view, not a copy
    assert torch.allclose(linear(x.detach(), wt), x.detach() @ w.detach(), rtol=1e-5, atol=1e-3)


def test_small_products_stay_on_f_linear():
    # A play step (batch 1) is far below the threshold: oneDNN's fixed cost would dominate.
    x, w, _ = _tensors((1,), 512, 512)
    assert x.numel() * w.shape[0] < ONEDNN_MIN_MACS
    assert not uses_onednn(x, w)


def test_autocast_disabled_mkldnn_and_non_fp32_stay_on_f_linear():
    x, w, _ = _tensors((256,), 512, 512)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not uses_onednn(x, w)
    torch.backends.mkldnn.enabled = False
    try:
        assert not uses_onednn(x, w)
    finally:
        torch.backends.mkldnn.enabled = True
    assert not uses_onednn(x.double(), w.double())


def test_shape_mismatch_raises_f_linear_error():
    x, w, _ = _tensors((256,), 512, 512)
    with pytest.raises(RuntimeError, match="shape"):
        linear(x, w[:, :500])


def test_linear_module_keeps_nn_linear_parameters_and_state_dict():
    torch.manual_seed(0)
    reference = nn.Linear(64, 32)
    torch.manual_seed(0)
    ours = Linear(64, 32)
    assert isinstance(ours, nn.Linear)
    assert ours.state_dict().keys() == reference.state_dict().keys()
    for key, value in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(300, 64)
    assert torch.allclose(ours(x), reference(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("transposed_slice", [False, True])
def test_linear_no_grad_matches_f_linear_for_strided_weights(transposed_slice):
    # The heads' hand-written backward multiplies by a column slice of a weight, transposed.
    g = torch.Generator().manual_seed(3)
    x, w = torch.randn(256, 320, generator=g), torch.randn(320, 140, generator=g)
    weight = w[:, :64].t() if transposed_slice else w[:, :64].contiguous().t()
    out = linear_module.linear_no_grad(x, weight)
    assert not out.requires_grad and out.shape == (256, 64)
    assert torch.allclose(out, F.linear(x, weight), rtol=1e-5, atol=1e-4)


@needs_onednn
@pytest.mark.parametrize("kernels", ["compiled_transpose", "torch_copy"])
def test_a_transposed_input_gives_the_weight_gradient_product(kernels, monkeypatch):
    # grad.T @ x, as the backward passes ask for it: both operands transposed views.
    if kernels == "torch_copy":
        monkeypatch.setattr(linear_module, "cpu_kernels", lambda: None)
    g = torch.Generator().manual_seed(4)
    grad, x = torch.randn(256, 512, generator=g), torch.randn(256, 222, generator=g)
    assert uses_onednn(grad.t(), x.t())
    out = linear_module.linear_no_grad(grad.t(), x.t())
    assert torch.allclose(out, grad.t() @ x, rtol=1e-4, atol=1e-3)
