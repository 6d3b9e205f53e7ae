"""Closed-loop games in the mock environment: a policy (port 1) against an opponent (port 2).

`play_match` plays exactly `games` games, one per simulator slot in parallel, and
counts each slot's first game only: counting games as they finish would favour
short games (a policy that loses fast would look like it plays more games).
A game lasts at most the simulator's timer; at time-out Melee's rule decides
(more stocks, then less percent; equal is a draw).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from exphil_assets.features.state import feature_spec
from exphil_assets.nets.policy import Policy
from exphil_assets.rl.env import LEARNER_PORT, OPPONENT_PORT, OpponentSpec
from exphil_assets.rl.env_mock import MockEnv, PolicyDriver, PolicyOpponent
from exphil_assets.rl.rewards import RewardConfig
from exphil_assets.rl.simulator import SimConfig


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with `n` torch CPU threads (None: unchanged), then restore the old count.

    Per-frame batches are small: extra threads gain nothing and, on a busy machine,
    contend with the simulator (measured: 20x slower with 2 threads under load).
    """
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def uses_prev_action(policy: Policy) -> bool:
    """Whether the policy was built on features with the previous-action block (read off its input width)."""
    return policy.config.float_dim == feature_spec(with_prev_action=True).float_dim


@dataclass
class MatchResult:
    """`games` games of a policy against one opponent, from the policy's side."""

    games: int
    wins: int
    losses: int
    draws: int
    win_rate: float
    """wins / games (a draw is not a win)"""
    stock_differential: float
    """mean per game: stocks the opponent lost - stocks the policy lost"""
    damage_differential: float
    """mean per game: percent dealt - percent taken"""
    mean_game_frames: float


def play_match(
    policy: Policy,
    opponent: str | OpponentSpec | Policy,
    games: int = 100,
    sim_config: SimConfig | None = None,
    seed: int = 0,
    deterministic: bool = False,
    progress: bool = False,
    threads: int | None = 1,
) -> MatchResult:
    """Play `games` mock games of `policy` against a bot/CPU spec or another Policy (head to head)."""
    with torch_threads(threads):
        return _play(policy, opponent, games, sim_config, seed, deterministic, progress)


def _play(policy, opponent, games, sim_config, seed, deterministic, progress) -> MatchResult:
    if isinstance(opponent, Policy):
        opponent = PolicyOpponent(opponent, games, uses_prev_action(opponent), deterministic, seed=seed + 2)
    env = MockEnv(games, opponent, RewardConfig(), sim_config, seed, with_prev_action=uses_prev_action(policy))
    driver = PolicyDriver(policy, games, deterministic, seed=seed + 1)
    obs = env.reset()
    open_ = np.ones(games, bool)  # this slot's first game is still running
    winner = np.zeros(games, np.int8)
    stock_diff = np.zeros(games)
    damage_diff = np.zeros(games)
    frames = np.zeros(games, np.int64)
    bar = tqdm(total=games, desc="games", unit="game", disable=not progress, leave=False)
    while open_.any():
        obs, _, done, info = env.step(driver.act(obs.floats, obs.ids))
        driver.reset(done)
        stock_diff += np.where(open_, info.stocks_lost_opp.astype(np.float64) - info.stocks_lost_self, 0.0)
        damage_diff += np.where(open_, info.damage_taken_opp.astype(np.float64) - info.damage_taken_self, 0.0)
        frames += open_
        finished = open_ & done
        winner[finished] = info.winner[finished]
        open_ &= ~done
        bar.update(int(finished.sum()))
    bar.close()
    wins, losses = int((winner == LEARNER_PORT).sum()), int((winner == OPPONENT_PORT).sum())
    return MatchResult(
        games=games, wins=wins, losses=losses, draws=games - wins - losses, win_rate=wins / games,
        stock_differential=float(stock_diff.mean()), damage_differential=float(damage_diff.mean()),
        mean_game_frames=float(frames.mean()),
    )  # fmt: skip
