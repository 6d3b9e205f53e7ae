"""Mamba: matches the mambapy oracle on the same weights, the custom scan's gradients are right, bf16 keeps an fp32 scan."""

from __future__ import annotations

import pytest
import torch
from mambapy.mamba import Mamba, MambaConfig

import exphil_assets.nets.mamba as mamba_module
from exphil_assets.nets.heads import action_log_prob
from exphil_assets.nets.mamba import MambaBackbone
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.nets.selective_scan import _SelectiveScan, selective_scan, selective_scan_reference

D_MODEL, LAYERS, STATE, CONV = 16, 2, 8, 4



@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: a second thread only adds synchronisation (about 10x slower on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _pair() -> tuple[MambaBackbone, Mamba]:
    torch.manual_seed(0)
    ours = MambaBackbone(D_MODEL, D_MODEL, LAYERS, STATE, expand_factor=2, conv_size=CONV).eval()
    oracle = Mamba(MambaConfig(d_model=D_MODEL, n_layers=LAYERS, d_state=STATE, expand_factor=2, d_conv=CONV,
                               pscan=False)).eval()
    oracle.layers.load_state_dict(ours.layers.state_dict())  # strict: every parameter name must match
    return ours, oracle


def test_forward_matches_mambapy_on_the_same_weights():
    ours, oracle = _pair()
    x = torch.randn(3, 60, D_MODEL, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y, _ = ours(x)
        expected = ours.norm_f(oracle(x))
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-5)


def test_step_matches_mambapy_step():
    ours, oracle = _pair()
    x = torch.randn(2, 30, D_MODEL, generator=torch.Generator().manual_seed(2))
    inner = 2 * D_MODEL
    caches = [(None, torch.zeros(2, inner, CONV - 1)) for _ in range(LAYERS)]
    state = ours.init_state(2)
    with torch.no_grad():
        for t in range(30):
            state, y = ours.step(state, x[:, t])
            expected, caches = oracle.step(x[:, t], caches)
            torch.testing.assert_close(y, ours.norm_f(expected), atol=1e-5, rtol=1e-5)
    # Our SSM state is the oracle's h ([B, E, N]) transposed, layer by layer.
    for i in range(LAYERS):
        torch.testing.assert_close(state[1][i], caches[i][0].transpose(1, 2), atol=1e-5, rtol=1e-5)


def _scan_inputs(dtype=torch.float64, seed=3):
    g = torch.Generator().manual_seed(seed)
    T, B, E, N = 7, 2, 3, 4
    x = torch.randn(T, B, E, generator=g, dtype=dtype).requires_grad_()
    dt = torch.rand(T, B, E, generator=g, dtype=dtype).requires_grad_()
    A = (-torch.rand(E, N, generator=g, dtype=dtype)).requires_grad_()
    Bm = torch.randn(T, B, N, generator=g, dtype=dtype).requires_grad_()
    C = torch.randn(T, B, N, generator=g, dtype=dtype).requires_grad_()
    h0 = torch.randn(B, N, E, generator=g, dtype=dtype).requires_grad_()
    return x, dt, A, Bm, C, h0


@pytest.mark.parametrize("chunk", [1, 3, 7])  # one frame per block, an uneven last block, one block
def test_scan_backward_passes_gradcheck_in_float64(chunk):
    assert torch.autograd.gradcheck(lambda *a: _SelectiveScan.apply(*a, chunk), _scan_inputs())


def test_scan_gradients_match_the_autograd_loop():
    inputs = _scan_inputs(torch.float32)
    y, h = selective_scan(*inputs, chunk=2)
    (y.sin().sum() + h.pow(2).sum()).backward()
    ours = [t.grad.clone() for t in inputs]
    for t in inputs:
        t.grad = None
    y_ref, h_ref = selective_scan_reference(*inputs)
    (y_ref.sin().sum() + h_ref.pow(2).sum()).backward()
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(h, h_ref)
    for got, expected in zip(ours, [t.grad for t in inputs], strict=True):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_scan_runs_in_fp32_under_bf16_autocast(monkeypatch):
    seen = []

    def spy(x, dt, A, B, C, h0=None):
        y, h = selective_scan(x, dt, A, B, C, h0)
        seen.append((x.dtype, dt.dtype, C.dtype, y.dtype, torch.is_autocast_enabled("cpu")))
        return y, h

    monkeypatch.setattr(mamba_module, "selective_scan", spy)
    ours, _ = _pair()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, state = ours(torch.randn(2, 10, D_MODEL))
    assert len(seen) == LAYERS
    assert all(s == (torch.float32,) * 4 + (False,) for s in seen), seen
    assert state[1].dtype == torch.float32
    assert y.dtype == torch.float32  # RMSNorm's fp32 weight; linears inside ran in bf16


def test_bf16_training_stays_finite_for_200_steps():
    torch.manual_seed(0)
    cfg = PolicyConfig(float_dim=6, id_vocab_sizes=(4,), backbone="mamba", id_embed_dim=3, hidden=(16,),
                       num_layers=2, dropout=0.0, state_size=4, head_hidden=8)
    policy = Policy(cfg)
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(5)
    floats, ids = torch.randn(4, 20, 6, generator=g), torch.randint(0, 4, (4, 20, 1), generator=g)
    labels = torch.cat([torch.randint(0, 2, (4, 20, 8), generator=g), torch.randint(0, 17, (4, 20, 4), generator=g),
                        torch.randint(0, 5, (4, 20, 1), generator=g)], -1)
    losses = []
    for _ in range(200):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, _ = policy(floats, ids, labels)
        loss = -action_log_prob({k: v.float() for k, v in logits.items()}, labels).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        assert torch.isfinite(loss), f"loss became {loss.item()} at step {len(losses)}"
    assert losses[-1] < losses[0]  # it learns the fixed random batch
