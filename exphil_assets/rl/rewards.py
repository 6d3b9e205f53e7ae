"""The PPO reward: stock differential + 0.01 x damage differential + win bonus.

Every term is seen from the learner's side and is zero-sum: what the learner
gains the opponent loses. Each weight is configurable (`RewardConfig`), so a
run can, for example, drop the damage shaping and learn from stocks alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the reward terms (per step, per game)."""

    stock_weight: float = 1.0
    """reward per stock the opponent loses, minus the same per stock the learner loses"""
    damage_weight: float = 0.01
    """reward per percent of damage dealt, minus the same per percent taken"""
    win_bonus: float = 1.0
    """added when the learner wins a game, subtracted when it loses (0 on a draw)"""


@dataclass(frozen=True)
class RewardTerms:
    """What happened this step in N games, from the learner's side. Arrays of shape [N]."""

    stocks_lost_self: np.ndarray
    stocks_lost_opp: np.ndarray
    damage_taken_self: np.ndarray
    damage_taken_opp: np.ndarray
    won: np.ndarray  # bool: the game ended this step and the learner won
    lost: np.ndarray  # bool: the game ended this step and the opponent won


def compute_reward(terms: RewardTerms, cfg: RewardConfig) -> np.ndarray:
    """Reward [N] float32 for one step of N games."""
    stock_diff = np.asarray(terms.stocks_lost_opp, np.float64) - np.asarray(terms.stocks_lost_self, np.float64)
    damage_diff = np.asarray(terms.damage_taken_opp, np.float64) - np.asarray(terms.damage_taken_self, np.float64)
    win = np.asarray(terms.won, np.float64) - np.asarray(terms.lost, np.float64)
    reward = cfg.stock_weight * stock_diff + cfg.damage_weight * damage_diff + cfg.win_bonus * win
    return reward.astype(np.float32)
