"""FlatParameters: one buffer for the weights and one for the gradients, with the same training arithmetic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from exphil_assets.training import flat_params as flat_params_module
from exphil_assets.training.flat_params import FlatParameters


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 3))


def _train(model: nn.Module, steps: int, flat: bool, max_norm: float, fused: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    if flat:
        fp = FlatParameters(model)
        opt = torch.optim.AdamW([fp.param], lr=1e-2, fused=fused)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(steps):
        x = torch.randn(16, 6, generator=g) * 10  # large inputs: the gradient gets clipped
        model(x).square().mean().backward()
        if flat:
            fp.gather_grads()
            fp.clip_grad_norm_(max_norm, opt if fused else None)
            opt.step()
            fp.zero_grad()
        else:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            opt.step()
            opt.zero_grad()
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("gather", ["compiled_kernel", "torch_ops"])
@pytest.mark.parametrize("fused", [False, True], ids=["clip_in_place", "clip_in_fused_adamw_step"])
@pytest.mark.parametrize("max_norm", [0.5, float("inf")])
def test_flat_training_matches_per_tensor_adamw_and_clipping(max_norm, fused, gather, monkeypatch):
    if gather == "torch_ops":
        monkeypatch.setattr(flat_params_module, "cpu_kernels", lambda: None)
    per_tensor = _train(_model(), 20, flat=False, max_norm=max_norm)
    flat = _train(_model(), 20, flat=True, max_norm=max_norm, fused=fused)
    assert per_tensor.keys() == flat.keys()
    for key in flat:
        torch.testing.assert_close(flat[key], per_tensor[key], rtol=1e-5, atol=1e-6)
        assert not torch.equal(flat[key], _model().state_dict()[key])  # it trained


def test_parameters_are_views_of_the_buffer_and_gradients_are_gathered():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp = FlatParameters(model)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])  # same values, new storage
    fp.check_views()
    model(torch.randn(4, 6)).sum().backward()
    model(torch.randn(4, 6)).sum().backward()  # a second pass accumulates, as with accumulation steps
    fp.gather_grads()
    assert float(fp.grad.abs().sum()) > 0
    assert torch.equal(fp.grad, torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    fp.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    # A parameter that gets no gradient (unused this step) gathers as zeros.
    model[2](torch.randn(4, 8)).sum().backward()
    grad = fp.gather_grads()
    first_layer = model[0].weight.numel() + model[0].bias.numel()
    assert float(grad[:first_layer].abs().sum()) == 0 and float(grad[first_layer:].abs().sum()) > 0
    # Loading a state dict copies into the views, so the optimiser still sees the weights.
    model.load_state_dict(before)
    fp.check_views()
    assert torch.equal(fp.param.detach(), torch.cat([v.reshape(-1) for v in before.values()]))


def test_replaced_weights_are_detected():
    model = _model()
    fp = FlatParameters(model)
    model[0].weight.data = torch.zeros(8, 6)
    with pytest.raises(RuntimeError, match="left the flat buffer"):
        fp.check_views()


def test_a_step_that_needs_no_clipping_drops_the_previous_steps_scale():
    model = _model()
    fp = FlatParameters(model)
    opt = torch.optim.AdamW([fp.param], lr=1e-2, fused=True)
    model(torch.randn(16, 6) * 10).square().mean().backward()
    fp.gather_grads()
    norm = fp.clip_grad_norm_(1e-3, opt)
    assert float(opt.grad_scale) == pytest.approx(float(norm) / 1e-3, rel=1e-5)
    fp.clip_grad_norm_(float("inf"), opt)
    assert opt.grad_scale is None
