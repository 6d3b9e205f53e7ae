"""Backbones: step mode equals the parallel forward, windows continue from a state, truncated BPTT cuts gradients."""

from __future__ import annotations

import pytest
import torch

from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.nets.registry import BACKBONES, TEMPORAL_BACKBONES, build_backbone

T = 90
WINDOW = 16  # < T, so the sliding window is exercised past its length
DIM = 12



@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: a second thread only adds synchronisation (about 10x slower on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(backbone: str, **overrides) -> PolicyConfig:
    fields = dict(
        float_dim=9, id_vocab_sizes=(5, 11, 3), backbone=backbone, id_embed_dim=4, hidden=(DIM,), num_layers=2,
        dropout=0.0, window_size=WINDOW, num_heads=2, state_size=4, expand_factor=2, conv_size=4, head_hidden=8,
    )
    return PolicyConfig(**(fields | overrides))


def _backbone(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_backbone(name, DIM, _config(name, **overrides)).eval()


def _run_steps(backbone, x: torch.Tensor):
    state = backbone.init_state(x.shape[0])
    ys = []
    for t in range(x.shape[1]):
        state, y = backbone.step(state, x[:, t])
        ys.append(y)
    return torch.stack(ys, 1), state


@pytest.mark.parametrize("name", TEMPORAL_BACKBONES)
def test_step_by_step_equals_parallel_forward(name):
    backbone = _backbone(name)
    x = torch.randn(3, T, DIM, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        parallel, final = backbone(x)
        stepped, stepped_state = _run_steps(backbone, x)
    assert parallel.shape == (3, T, backbone.out_dim)
    torch.testing.assert_close(stepped, parallel, atol=1e-5, rtol=1e-5)
    for a, b in zip(stepped_state, final, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", TEMPORAL_BACKBONES)
def test_forward_continues_from_a_carried_state(name):
    # Two windows fed one after the other, carrying the state, equal one long window.
    backbone = _backbone(name)
    x = torch.randn(2, 50, DIM, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole, _ = backbone(x)
        first, state = backbone(x[:, :23])
        second, _ = backbone(x[:, 23:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-5, rtol=1e-5)


def test_mlp_has_no_state_and_applies_per_frame():
    backbone = _backbone("mlp")
    x = torch.randn(4, 5, DIM)
    with torch.no_grad():
        y, state = backbone(x)
        state2, y_step = backbone.step(backbone.init_state(4), x[:, 2])
    assert state == () and state2 == ()
    torch.testing.assert_close(y_step, y[:, 2])


@pytest.mark.parametrize("backbone", BACKBONES)
def test_policy_step_plus_heads_equals_teacher_forced_forward(backbone):
    torch.manual_seed(0)
    policy = Policy(_config(backbone)).eval()
    g = torch.Generator().manual_seed(3)
    floats = torch.randn(2, T, 9, generator=g)
    ids = torch.stack([torch.randint(0, v, (2, T), generator=g) for v in (5, 11, 3)], -1)
    labels = torch.cat(
        [torch.randint(0, 2, (2, T, 8), generator=g), torch.randint(0, 17, (2, T, 4), generator=g),
         torch.randint(0, 5, (2, T, 1), generator=g)], -1,
    )
    with torch.no_grad():
        logits, _ = policy(floats, ids, labels)
        state = policy.init_state(2)
        hiddens = []
        for t in range(T):
            state, hidden = policy.step(state, floats[:, t], ids[:, t])
            hiddens.append(hidden)
        stepped = policy.heads(torch.stack(hiddens, 1), labels)
    for name in logits:
        torch.testing.assert_close(stepped[name], logits[name], atol=1e-5, rtol=1e-5)


def test_act_returns_the_deterministic_action_and_advances_state():
    torch.manual_seed(0)
    policy = Policy(_config("lstm")).eval()
    floats, ids = torch.randn(3, 9), torch.zeros(3, 3, dtype=torch.long)
    state0 = policy.init_state(3)
    state1, action = policy.act(state0, floats, ids, deterministic=True)
    _, hidden = policy.step(state0, floats, ids)
    assert action.dtype == torch.int64 and action.shape == (3, 13)
    assert torch.equal(action, policy.heads.sample(hidden, deterministic=True))
    assert not torch.equal(state1[0], state0[0])


@pytest.mark.parametrize("backbone", TEMPORAL_BACKBONES)
def test_reset_state_clears_only_finished_games(backbone):
    torch.manual_seed(0)
    policy = Policy(_config(backbone)).eval()
    state = policy.init_state(3)
    for _ in range(4):
        state, _ = policy.step(state, torch.randn(3, 9), torch.zeros(3, 3, dtype=torch.long))
    reset = policy.reset_state(state, torch.tensor([False, True, False]))
    fresh = policy.init_state(3)
    for old, new, zero in zip(state, reset, fresh, strict=True):
        assert torch.equal(new[:, 1], zero[:, 1])
        assert torch.equal(new[:, [0, 2]], old[:, [0, 2]])


@pytest.mark.parametrize("name", ["lstm", "gru", "mamba"])
def test_truncated_bptt_cuts_gradients_older_than_n_frames(name):
    n, length = 10, 40
    backbone = _backbone(name, truncate_bptt=n)
    x = torch.randn(2, length, DIM, generator=torch.Generator().manual_seed(4), requires_grad=True)
    y, _ = backbone(x)
    y[:, -1].pow(2).sum().backward()
    grad_norm = x.grad.norm(dim=(0, 2))  # per input frame
    assert torch.all(grad_norm[: length - n] == 0), grad_norm
    assert torch.all(grad_norm[length - n :] > 0), grad_norm
    # Without truncation the same loss does reach the older frames, and forward values are unchanged.
    full = _backbone(name)
    x2 = x.detach().clone().requires_grad_(True)
    y_full, _ = full(x2)
    y_full[:, -1].pow(2).sum().backward()
    assert x2.grad.norm(dim=(0, 2))[: length - n].min() > 0
    torch.testing.assert_close(y, y_full)


@pytest.mark.parametrize("name", ["sliding_window", "hybrid"])
def test_truncated_bptt_is_refused_for_attention_with_a_clear_message(name):
    with pytest.raises(ValueError, match="truncate_bptt.*not supported"):
        _backbone(name, truncate_bptt=10)
