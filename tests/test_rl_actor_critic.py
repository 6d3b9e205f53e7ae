"""ActorCritic: loads an exported imitation policy unchanged; step-mode rollouts equal the parallel re-run."""

from __future__ import annotations

import pytest
import torch
from tiny_policies import (
    export_tiny,
    one_torch_thread,  # noqa: F401  (autouse: one torch thread)
    random_inputs,
    tiny_policy,
)

from exphil_assets.nets.heads import action_log_prob
from exphil_assets.nets.registry import BACKBONES, TEMPORAL_BACKBONES
from exphil_assets.rl.actor_critic import ActorCritic, action_kl


@pytest.mark.parametrize("backbone", BACKBONES)
def test_pretrained_actor_gives_the_imitation_policy_distribution(backbone, tmp_path):
    policy = tiny_policy(backbone)
    path = export_tiny(policy, tmp_path, f"{backbone}_imitation_t")
    ac, meta = ActorCritic.from_pretrained(path)
    assert meta["backbone"] == backbone
    floats, ids = random_inputs(3, 6)
    g = torch.Generator().manual_seed(2)
    actions = policy.heads.sample(torch.randn(3, 6, policy.hidden_size, generator=g), deterministic=False, generator=g)
    with torch.no_grad():
        want_logits, _ = policy(floats, ids, actions)
        got = ac.evaluate(floats, ids, actions, ac.init_state(3))
    for name, want in want_logits.items():
        torch.testing.assert_close(got.logits[name], want, rtol=0, atol=1e-6)
    torch.testing.assert_close(got.log_prob, action_log_prob(want_logits, actions), rtol=0, atol=1e-5)
    assert torch.all(got.value == 0)  # the critic starts at zero and leaves the actor alone
    assert torch.allclose(action_kl(got.logits, want_logits), torch.zeros(3, 6), atol=1e-6)


@pytest.mark.parametrize("backbone", TEMPORAL_BACKBONES)
def test_step_mode_rollout_equals_parallel_evaluate_across_a_game_reset(backbone):
    torch.manual_seed(3)
    ac = ActorCritic(tiny_policy(backbone))
    # A non-zero critic, so values are compared for real.
    torch.nn.init.normal_(ac.value_head[-1].weight)
    N, T = 3, 9
    floats, ids = random_inputs(N, T, seed=4)
    starts = torch.zeros(N, T, dtype=torch.bool)
    starts[1, 5] = True  # game 1 ends after step 4 and a new one starts at step 5
    starts[2, 0] = True  # game 2 starts fresh at step 0 (its carried state must be dropped)
    g = torch.Generator().manual_seed(5)
    state = ac.init_state(N)
    for _ in range(3):  # warm the state so state0 is not the initial state
        state, _ = ac.act(state, floats[:, 0], ids[:, 0], generator=g)
    state0 = state
    actions, logps, values = [], [], []
    for t in range(T):
        state = ac.reset_state(state, starts[:, t])
        state, out = ac.act(state, floats[:, t], ids[:, t], generator=g)
        actions.append(out.action)
        logps.append(out.log_prob)
        values.append(out.value)
    actions = torch.stack(actions, 1)
    with torch.no_grad():
        ev = ac.evaluate(floats, ids, actions, state0, starts)
    torch.testing.assert_close(ev.log_prob, torch.stack(logps, 1), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ev.value, torch.stack(values, 1), rtol=1e-4, atol=1e-4)
    for s_step, s_par in zip(state, ev.final_state, strict=True):
        torch.testing.assert_close(s_par.to(s_step.dtype), s_step, rtol=1e-4, atol=1e-4)


def test_evaluate_gradients_reach_the_trunk_through_a_mid_segment_reset():
    ac = ActorCritic(tiny_policy("lstm"))
    floats, ids = random_inputs(2, 5)
    starts = torch.zeros(2, 5, dtype=torch.bool)
    starts[0, 2] = True
    actions = torch.zeros(2, 5, 13, dtype=torch.long)
    actions[..., 8:12] = 8
    ev = ac.evaluate(floats, ids, actions, ac.init_state(2), starts)
    (ev.log_prob.sum() + ev.value.sum()).backward()
    grad = ac.policy.backbone.rnn.weight_ih_l0.grad
    assert grad is not None and grad.abs().sum() > 0


def test_kl_is_positive_when_the_policies_differ():
    a, b = tiny_policy("mlp", seed=0), tiny_policy("mlp", seed=1)
    floats, ids = random_inputs(4, 1)
    actions = torch.zeros(4, 1, 13, dtype=torch.long)
    with torch.no_grad():
        la, _ = a(floats, ids, actions)
        lb, _ = b(floats, ids, actions)
    kl = action_kl(la, lb)
    assert kl.shape == (4, 1) and torch.all(kl > 0)
