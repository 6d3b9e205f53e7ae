"""Closed-loop games in the mock environment: win rate, stock and damage differentials.

Each policy plays port 1 of `games` simulator games at once against every scripted
opponent, then every pair of policies plays head to head (the first-named policy
on port 1, the other through its own mirrored view). A game runs until a player
has no stocks left or `max_frames` gameplay frames pass; a game that times out
goes to the player with more stocks, then the lower percent (Melee's rule), else
it is a draw. Each environment's first game is the one counted. Actions are
sampled from the policy (seeded), as a behaviour-cloned policy plays. Games are
stepped on one intra-op thread (`latency.intra_op_threads`): a few games per step
are batch-1-sized work, which extra threads only slow down.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from exphil_assets.evaluation.latency import intra_op_threads
from exphil_assets.nets.policy import Policy
from exphil_assets.rl.env_mock import MockEnv, PolicyDriver, PolicyOpponent
from exphil_assets.rl.simulator import SimConfig

# Scripted opponents every policy meets: (label, mock-env opponent spec).
SCRIPTED_OPPONENTS: tuple[tuple[str, str], ...] = (
    ("random", "bot:random"),
    ("approach 0.5", "bot:approach:0.5"),
    ("defensive 0.8", "bot:defensive:0.8"),
)


@dataclass
class MatchupResult:
    """Games of one policy (port 1) against one opponent (port 2), from the policy's side."""

    policy: str
    opponent: str  # a scripted opponent's name, or another policy's name (head to head)
    games: int
    wins: int
    losses: int
    draws: int
    win_rate: float  # wins / games (a draw counts as not won)
    stock_differential: float  # mean per game: stocks the opponent lost - stocks the policy lost
    damage_differential: float  # mean per game: damage dealt - damage taken (percent)
    mean_game_frames: float


@dataclass
class ClosedLoopReport:
    env: str
    games_per_matchup: int
    max_frames: int
    scripted: list[MatchupResult] = field(default_factory=list)
    head_to_head: list[MatchupResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def win_rate(self, policy: str) -> float | None:
        """Mean win rate of `policy` over the scripted opponents (None if it played none)."""
        rates = [m.win_rate for m in self.scripted if m.policy == policy]
        return sum(rates) / len(rates) if rates else None


@dataclass
class LoopPolicy:
    """A policy as closed-loop games need it: the network and whether it reads its previous action."""

    policy: Policy
    with_prev_action: bool = False


def play_games(
    learner: LoopPolicy,
    opponent: Any,
    games: int,
    max_frames: int,
    seed: int,
    learner_name: str,
    opponent_name: str,
) -> MatchupResult:
    """`games` games of `learner` (port 1) against `opponent` (a mock-env spec or Opponent object)."""
    env = MockEnv(
        games,
        opponent=opponent,
        sim_config=SimConfig(timer_frames=max_frames),
        seed=seed,
        with_prev_action=learner.with_prev_action,
    )
    with intra_op_threads():
        return _play(env, PolicyDriver(learner.policy, games, deterministic=False, seed=seed), games,
                     learner_name, opponent_name)  # fmt: skip


def _play(
    env: MockEnv, driver: PolicyDriver, games: int, learner_name: str, opponent_name: str
) -> MatchupResult:
    obs = env.reset()
    finished = np.zeros(games, bool)
    winner = np.zeros(games, np.int8)
    frames = np.zeros(games, np.int64)
    stocks_taken = np.zeros(games)
    stocks_lost = np.zeros(games)
    damage_dealt = np.zeros(games)
    damage_taken = np.zeros(games)
    while not finished.all():
        actions = driver.act(obs.floats, obs.ids)
        obs, _, done, info = env.step(actions)
        live = ~finished  # only each environment's first game counts
        stocks_taken += np.where(live, info.stocks_lost_opp, 0)
        stocks_lost += np.where(live, info.stocks_lost_self, 0)
        damage_dealt += np.where(live, info.damage_taken_opp, 0)
        damage_taken += np.where(live, info.damage_taken_self, 0)
        frames += live
        ended = done & live
        winner[ended] = info.winner[ended]
        finished |= done
        driver.reset(done)
    env.close()
    wins, losses = int((winner == 1).sum()), int((winner == 2).sum())
    return MatchupResult(
        policy=learner_name,
        opponent=opponent_name,
        games=games,
        wins=wins,
        losses=losses,
        draws=games - wins - losses,
        win_rate=wins / games,
        stock_differential=float((stocks_taken - stocks_lost).mean()),
        damage_differential=float((damage_dealt - damage_taken).mean()),
        mean_game_frames=float(frames.mean()),
    )


def run_closed_loop(
    policies: Mapping[str, LoopPolicy],
    games: int,
    max_frames: int,
    seed: int = 0,
    progress: bool = False,
    opponents: tuple[tuple[str, str], ...] = SCRIPTED_OPPONENTS,
) -> ClosedLoopReport:
    """Every policy against every scripted opponent, then every pair head to head."""
    if games < 1:
        raise ValueError(f"run_closed_loop: games must be >= 1, got {games}")
    report = ClosedLoopReport(env="mock", games_per_matchup=games, max_frames=max_frames)
    pairs = list(itertools.combinations(policies, 2))
    bar = tqdm(total=len(policies) * len(opponents) + len(pairs), desc="closed loop", unit="matchup",
               disable=not progress, leave=False)  # fmt: skip
    with bar:
        for name, learner in policies.items():
            for label, spec in opponents:
                report.scripted.append(play_games(learner, spec, games, max_frames, seed, name, label))
                bar.update()
        for first, second in pairs:
            other = policies[second]
            opponent = PolicyOpponent(
                other.policy, games, other.with_prev_action, deterministic=False, seed=seed + 1
            )
            report.head_to_head.append(
                play_games(policies[first], opponent, games, max_frames, seed, first, second)
            )
            bar.update()
    return report
