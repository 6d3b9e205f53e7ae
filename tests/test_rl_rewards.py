"""The PPO reward on hand-made step results: stock and damage differentials and the win bonus."""

from __future__ import annotations

import numpy as np
import pytest

from exphil_assets.rl.rewards import RewardConfig, RewardTerms, compute_reward


def _terms(**kw) -> RewardTerms:
    base = {k: np.zeros(3) for k in ("stocks_lost_self", "stocks_lost_opp", "damage_taken_self", "damage_taken_opp")}
    base.update(won=np.zeros(3, bool), lost=np.zeros(3, bool))
    base.update({k: np.asarray(v) for k, v in kw.items()})
    return RewardTerms(**base)


def test_default_reward_is_stocks_plus_a_hundredth_of_damage_plus_win_bonus():
    terms = _terms(
        stocks_lost_opp=[1, 0, 1], stocks_lost_self=[0, 1, 0],
        damage_taken_opp=[12.0, 0.0, 0.0], damage_taken_self=[0.0, 30.0, 0.0],
        won=[False, False, True], lost=[False, True, False],
    )  # fmt: skip
    reward = compute_reward(terms, RewardConfig())
    # game 0: +1 stock, +12% -> 1.12; game 1: -1 stock, -30%, lost -> -2.3; game 2: +1 stock, won -> 2
    np.testing.assert_allclose(reward, [1.12, -2.3, 2.0], rtol=1e-6)
    assert reward.dtype == np.float32


def test_each_weight_scales_only_its_own_term():
    terms = _terms(stocks_lost_opp=[1, 0, 0], damage_taken_opp=[0, 10.0, 0], won=[False, False, True])
    assert compute_reward(terms, RewardConfig(stock_weight=0, damage_weight=0, win_bonus=0)).tolist() == [0, 0, 0]
    np.testing.assert_allclose(compute_reward(terms, RewardConfig(2.0, 0.0, 0.0)), [2, 0, 0])
    np.testing.assert_allclose(compute_reward(terms, RewardConfig(0.0, 0.1, 0.0)), [0, 1, 0])
    np.testing.assert_allclose(compute_reward(terms, RewardConfig(0.0, 0.0, 5.0)), [0, 0, 5])


def test_mirrored_step_gives_the_negated_reward():
    a = _terms(stocks_lost_opp=[1, 0, 0], damage_taken_self=[0, 7.5, 0], won=[True, False, False])
    b = _terms(stocks_lost_self=[1, 0, 0], damage_taken_opp=[0, 7.5, 0], lost=[True, False, False])
    cfg = RewardConfig()
    np.testing.assert_allclose(compute_reward(a, cfg), -compute_reward(b, cfg))
    assert compute_reward(a, cfg)[0] == pytest.approx(2.0)
