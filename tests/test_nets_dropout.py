"""The CPU dropout: drop rate, scaling, eval mode and seeding behave like nn.Dropout.

Every test runs twice: on the compiled kernel (cpu_kernels) and on torch's ops, its fallback.
"""

from __future__ import annotations

import pytest
import torch

import exphil_assets.nets.dropout as dropout_module
from exphil_assets.nets.activation import activate
from exphil_assets.nets.cpu_kernels import cpu_kernels
from exphil_assets.nets.dropout import Dropout, activate_then_drop


@pytest.fixture(autouse=True, params=["kernel", "torch_ops"])
def dropout_path(request, monkeypatch):
    if request.param == "kernel" and cpu_kernels() is None:
        pytest.skip("the compiled CPU kernels are unavailable here (see test_nets_cpu_kernels)")
    if request.param == "torch_ops":
        monkeypatch.setattr(dropout_module, "cpu_kernels", lambda: None)
    return request.param


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_drops_about_p_and_scales_the_rest(p):
    torch.manual_seed(0)
    x = torch.ones(400, 500)
    y = Dropout(p).train()(x)
    dropped = float((y == 0).float().mean())
    assert abs(dropped - p) < 0.005
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / (1 - p)))


def test_every_position_is_dropped_at_the_same_rate():
    # torch ops: four 16-bit uniforms come from each 64-bit draw, none of which may be biased;
    # the kernel hashes each element's index, and no index may be favoured.
    torch.manual_seed(1)
    y = Dropout(0.25).train()(torch.ones(2000, 64))
    per_column = (y == 0).float().mean(0)
    assert float(per_column.min()) > 0.2 and float(per_column.max()) < 0.3


def test_eval_mode_and_p_zero_are_the_identity():
    x = torch.randn(8, 16)
    assert Dropout(0.3).eval()(x) is x
    assert Dropout(0.0).train()(x) is x


def test_gradient_flows_through_the_kept_elements_only():
    torch.manual_seed(2)
    x = torch.randn(64, 32, requires_grad=True)
    y = Dropout(0.2).train()(x)
    y.sum().backward()
    kept = y.detach() != 0
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.8))
    assert torch.all(x.grad[~kept] == 0)


def test_the_global_seed_fixes_the_mask():
    x = torch.ones(32, 32)
    torch.manual_seed(3)
    a = Dropout(0.5).train()(x)
    torch.manual_seed(3)
    b = Dropout(0.5).train()(x)
    assert torch.equal(a, b)


def test_invalid_p_is_named():
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(1.0)


def test_the_mask_does_not_depend_on_the_memory_layout():
    # The kernel indexes elements in row-major order: a transposed view is copied first.
    x = torch.arange(1, 65, dtype=torch.float32).reshape(8, 8)
    torch.manual_seed(4)
    a = Dropout(0.5).train()(x.t())
    torch.manual_seed(4)
    b = Dropout(0.5).train()(x.t().contiguous())
    assert torch.equal(a, b)


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_activate_then_drop_is_dropout_of_the_activation(activation, dropout_path):
    pre = torch.randn(64, 300, requires_grad=True)
    drop = Dropout(0.3).train()
    torch.manual_seed(6)
    out = activate_then_drop(pre, activation, drop)
    kept = out.detach() != 0
    reference = activate(pre.detach(), activation) / 0.7
    if activation == "gelu":
        assert abs(float(kept.float().mean()) - 0.7) < 0.02
    torch.testing.assert_close(out.detach()[kept], reference[kept], rtol=1e-5, atol=2e-6)
    out.backward(torch.ones_like(out))
    slope = torch.func.grad(lambda x: activate(x, activation).sum())(pre.detach())
    torch.testing.assert_close(pre.grad, slope * kept / 0.7, rtol=1e-5, atol=2e-6)
    # in eval mode it is the activation alone
    assert torch.equal(activate_then_drop(pre.detach(), activation, drop.eval()), activate(pre.detach(), activation))
