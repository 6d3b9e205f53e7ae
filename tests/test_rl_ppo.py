"""PPO math against hand-computed values on tiny trajectories, and single updates doing what they should."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_policies import (
    one_torch_thread,  # noqa: F401  (autouse: one torch thread)
    random_inputs,
    tiny_policy,
)

from exphil_assets.nets.heads import CATEGORICAL_HEADS, action_entropy
from exphil_assets.rl.actor_critic import ActorCritic, action_kl
from exphil_assets.rl.ppo import PPOConfig, clipped_policy_loss, compute_gae, value_loss


def test_gae_on_a_three_step_trajectory_with_a_game_end_matches_hand_values():
    rewards = torch.tensor([[1.0, 0.0, 2.0]])
    values = torch.tensor([[0.5, 1.0, 1.5]])
    dones = torch.tensor([[False, True, False]])  # the game ends with step 1's reward
    adv, ret = compute_gae(rewards, values, dones, torch.tensor([2.0]), gamma=0.9, lam=0.8)
    # t=2: 2 + 0.9*2.0 - 1.5 = 2.3
    # t=1: 0 - 1.0 = -1.0 (nothing bootstrapped past the end of the game)
    # t=0: delta 1 + 0.9*1.0 - 0.5 = 1.4; A = 1.4 + 0.9*0.8*(-1.0) = 0.68
    torch.testing.assert_close(adv, torch.tensor([[0.68, -1.0, 2.3]]))
    torch.testing.assert_close(ret, torch.tensor([[1.18, 0.0, 3.8]]))


def test_gae_with_lambda_one_and_no_ends_is_the_discounted_return_minus_value():
    rewards = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 3.0]])
    values = torch.tensor([[0.2, 0.1, 0.0], [1.0, 1.0, 1.0]])
    dones = torch.zeros(2, 3, dtype=torch.bool)
    adv, ret = compute_gae(rewards, values, dones, torch.tensor([10.0, 0.0]), gamma=0.5, lam=1.0)
    torch.testing.assert_close(ret, torch.tensor([[1 + 0.5 + 0.25 + 1.25, 1 + 0.5 + 2.5, 1 + 5.0],
                                                  [0.75, 1.5, 3.0]]))  # fmt: skip
    torch.testing.assert_close(adv, ret - values)


def test_clipped_surrogate_takes_the_pessimistic_term_per_sample():
    new = torch.log(torch.tensor([1.0, 1.5, 0.5]))
    old = torch.zeros(3)
    adv = torch.tensor([1.0, 1.0, -1.0])
    loss, stats = clipped_policy_loss(new, old, adv, clip_coef=0.2)
    # per sample: max(-1, -1) = -1; max(-1.5, -1.2) = -1.2; max(0.5, 0.8) = 0.8
    assert float(loss) == pytest.approx((-1.0 - 1.2 + 0.8) / 3)
    assert float(stats["clipfrac"]) == pytest.approx(2 / 3)
    assert float(stats["approx_kl"]) == pytest.approx((0 + (0.5 - math.log(1.5)) + (-0.5 + math.log(2))) / 3)


def test_value_loss_clipped_and_unclipped():
    new, old, ret = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.5]), torch.tensor([1.0, 1.0])
    # clipped values 0.7, 0.7 -> errors 0.09, 0.09; unclipped 0, 1 -> max 0.09, 1
    assert float(value_loss(new, old, ret, 0.2, clip=True)) == pytest.approx(0.5 * (0.09 + 1.0) / 2)
    assert float(value_loss(new, old, ret, 0.2, clip=False)) == pytest.approx(0.25)


def _logits(**overrides: torch.Tensor) -> dict[str, torch.Tensor]:
    out = {"buttons": torch.zeros(1, 8)}
    out.update({name: torch.zeros(1, classes) for name, _, classes in CATEGORICAL_HEADS})
    out.update(overrides)
    return out


def test_entropy_bonus_of_uniform_heads_is_the_sum_of_log_class_counts():
    expected = 8 * math.log(2) + 4 * math.log(17) + math.log(5)
    assert float(action_entropy(_logits())) == pytest.approx(expected, rel=1e-6)


def test_kl_to_teacher_sums_bernoulli_and_categorical_heads():
    teacher_buttons = torch.zeros(1, 8)
    teacher_buttons[0, 3] = math.log(3)  # p(Y) 0.75 under the teacher, 0.5 under the policy
    teacher_shoulder = torch.tensor([[math.log(2), 0.0, 0.0, 0.0, 0.0]])  # (2, 1, 1, 1, 1) / 6
    kl = action_kl(_logits(), _logits(buttons=teacher_buttons, shoulder=teacher_shoulder))
    bernoulli = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    categorical = 0.2 * math.log(0.2 / (2 / 6)) + 4 * 0.2 * math.log(0.2 / (1 / 6))
    assert float(kl) == pytest.approx(bernoulli + categorical, rel=1e-5)


def test_a_clipped_update_raises_the_log_prob_of_an_action_with_positive_advantage():
    ac = ActorCritic(tiny_policy("gru"))
    floats, ids = random_inputs(2, 4)
    state0 = ac.init_state(2)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        hidden, _ = ac.policy.features(floats, ids, state0)
        actions = ac.policy.heads.sample(hidden, deterministic=False, generator=g)
        old = ac.evaluate(floats, ids, actions, state0).log_prob
    adv = torch.ones(2, 4)
    opt = torch.optim.Adam(ac.parameters(), lr=1e-2)
    for _ in range(3):
        loss, _ = clipped_policy_loss(ac.evaluate(floats, ids, actions, state0).log_prob, old, adv, 0.2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        new = ac.evaluate(floats, ids, actions, state0).log_prob
    assert float((new - old).mean()) > 0.05


def test_the_kl_penalty_alone_pulls_the_actor_toward_the_teacher():
    teacher = tiny_policy("mlp", seed=0).requires_grad_(False)
    ac = ActorCritic(tiny_policy("mlp", seed=1))
    floats, ids = random_inputs(16, 1)
    actions = teacher.heads.sample(teacher.features(floats, ids)[0], deterministic=False)
    opt = torch.optim.Adam(ac.parameters(), lr=3e-3)

    def kl() -> torch.Tensor:
        return action_kl(ac.evaluate(floats, ids, actions, ()).logits, teacher(floats, ids, actions)[0]).mean()

    start = float(kl().detach())
    for _ in range(30):
        loss = kl()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(kl().detach()) < 0.5 * start


def test_config_rejects_bad_values_naming_the_option():
    from exphil_assets.errors import UserError

    with pytest.raises(UserError, match="--num-envs"):
        PPOConfig(num_envs=0).validate()
    with pytest.raises(UserError, match="--opponent"):
        PPOConfig(opponent="bot:approach:7").validate()
