"""The mock env: features from the shared function, auto-reset, determinism, rewards, policy opponents."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_policies import tiny_policy

from exphil_assets.errors import UserError
from exphil_assets.features.labels import decode_labels_to_floats
from exphil_assets.features.state import build_features, feature_spec
from exphil_assets.rl.env import neutral_actions
from exphil_assets.rl.env_mock import STAGE, MockEnv, PolicyOpponent, make_opponent
from exphil_assets.rl.rewards import RewardConfig, RewardTerms, compute_reward
from exphil_assets.rl.simulator import SimConfig

SHORT = SimConfig(stocks=1, timer_frames=30, countdown_frames=0)


def _actions(n: int, rng: np.random.Generator) -> np.ndarray:
    a = neutral_actions(n)
    a[:, 8] = rng.integers(0, 17, n)  # walk around
    a[:, 0] = rng.integers(0, 2, n)  # and press A now and then
    return a


def test_observation_is_the_shared_feature_function_of_the_simulator_state():
    env = MockEnv(4, "bot:approach:0.5", sim_config=SHORT, seed=3)
    obs = env.reset()
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs, *_ = env.step(_actions(4, rng))
    want = build_features(env.sim.state_columns(), 1, 2, STAGE)
    np.testing.assert_array_equal(obs.floats, want.floats)
    np.testing.assert_array_equal(obs.ids, want.ids)
    assert obs.floats.shape == (4, feature_spec().float_dim) and obs.floats.dtype == np.float32


def test_games_reset_on_their_own_when_they_end():
    env = MockEnv(3, "bot:defensive:0.5", sim_config=SHORT, seed=1)
    env.reset()
    rng = np.random.default_rng(1)
    for t in range(30):
        obs, reward, done, info = env.step(_actions(3, rng))
        assert done.all() == (t == 29)  # the 30-frame timer ends every game at once
    assert np.all(info.episode_length == 30) and np.all(np.isfinite(info.episode_return))
    assert set(info.winner.tolist()) <= {0, 1, 2}
    # the observation after the end is the first frame of a fresh game
    fresh = env.sim.state_columns()
    assert np.all(fresh["p1_stocks"] == 1) and np.all(fresh["p1_percent"] == 0) and np.all(env.sim.frame == -1)
    np.testing.assert_array_equal(obs.floats, build_features(fresh, 1, 2, STAGE).floats)
    obs, reward, done, info = env.step(_actions(3, rng))
    assert not done.any() and np.all(np.isnan(info.episode_return))


def test_same_seed_and_actions_give_the_same_games():
    runs = []
    for _ in range(2):
        env = MockEnv(2, "bot:random:0.5", sim_config=SHORT, seed=7)
        env.reset()
        rng = np.random.default_rng(2)
        runs.append([env.step(_actions(2, rng)) for _ in range(40)])
    for (o1, r1, d1, _), (o2, r2, d2, _) in zip(*runs, strict=True):
        np.testing.assert_array_equal(o1.floats, o2.floats)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)


def test_reward_is_computed_from_what_happened_this_step():
    cfg = RewardConfig(stock_weight=1.0, damage_weight=0.5, win_bonus=3.0)
    env = MockEnv(8, "bot:approach:1.0", reward=cfg, sim_config=SimConfig(stocks=1, timer_frames=400,
                  countdown_frames=0), seed=0)  # fmt: skip
    env.reset()
    rng = np.random.default_rng(3)
    hurt = 0.0
    for _ in range(400):
        _, reward, done, info = env.step(_actions(8, rng))
        terms = RewardTerms(info.stocks_lost_self, info.stocks_lost_opp, info.damage_taken_self,
                            info.damage_taken_opp, done & (info.winner == 1), done & (info.winner == 2))  # fmt: skip
        np.testing.assert_allclose(reward, compute_reward(terms, cfg))
        hurt += float(info.damage_taken_self.sum())
    assert hurt > 0  # the approach bot did hit the random walker: the damage term was exercised


def test_previous_action_block_follows_the_actions_and_resets_with_the_game():
    env = MockEnv(2, "bot:approach:0.5", sim_config=SHORT, seed=0, with_prev_action=True)
    obs = env.reset()
    assert obs.floats.shape[1] == feature_spec(with_prev_action=True).float_dim
    np.testing.assert_array_equal(obs.floats[:, -13:], decode_labels_to_floats(neutral_actions(2)))
    a = neutral_actions(2)
    a[:, 1] = 1
    a[:, 8] = 16
    obs, *_ = env.step(a)
    np.testing.assert_array_equal(obs.floats[:, -13:], decode_labels_to_floats(a))
    for _ in range(29):
        obs, _, done, _ = env.step(a)
    assert done.all()
    np.testing.assert_array_equal(obs.floats[:, -13:], decode_labels_to_floats(neutral_actions(2)))


def test_policy_opponent_sees_the_game_from_port_two():
    opp = PolicyOpponent(tiny_policy("gru"), 2, with_prev_action=False)
    seen = []
    act = opp.driver.act
    opp.driver.act = lambda f, i: (seen.append((f.copy(), i.copy())), act(f, i))[1]
    env = MockEnv(2, opp, sim_config=SHORT, seed=0)
    env.reset()
    rng = np.random.default_rng(4)
    columns = []
    for _ in range(3):
        columns.append(env.sim.state_columns())
        env.step(_actions(2, rng))
    for cols, (floats, ids) in zip(columns, seen, strict=True):
        mirror = build_features(cols, 2, 1, STAGE)
        np.testing.assert_array_equal(floats, mirror.floats)
        np.testing.assert_array_equal(ids, mirror.ids)
        assert not np.array_equal(floats, build_features(cols, 1, 2, STAGE).floats)


def test_cpu_levels_map_to_the_approach_bot_by_skill():
    low, high = make_opponent("cpu1", 2, 0), make_opponent("cpu9", 2, 0)
    assert low.bot.name == high.bot.name == "approach"
    assert low.bot.skill[0] == pytest.approx(0.0) and high.bot.skill[0] == pytest.approx(1.0)


def test_unknown_bot_is_a_user_error():
    with pytest.raises(UserError, match="bot:nobody"):
        MockEnv(1, "bot:nobody", sim_config=SHORT)
