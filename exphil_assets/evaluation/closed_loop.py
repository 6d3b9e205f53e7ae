"""Closed-loop games in the mock environment: win rate, stock and damage differentials.

Each policy plays port 1 of `games` simulator games at once against every scripted
opponent, then every pair of policies plays head to head (the first-named policy
on port 1, the other through its own mirrored view). The games themselves are
`rl.rollout.play_match` (the same matches PPO reports): each slot's first game
counts, a game lasts at most `max_frames` gameplay frames, and at time-out Melee's
rule decides (more stocks, then less percent, else a draw). Actions are sampled
from the policy (seeded), as a behaviour-cloned policy plays.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tqdm import tqdm

from exphil_assets.nets.policy import Policy
from exphil_assets.rl.rollout import play_match
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


def play_games(
    policy: Policy,
    opponent: str | Policy,
    games: int,
    max_frames: int,
    seed: int,
    policy_name: str,
    opponent_name: str,
) -> MatchupResult:
    """`games` games of `policy` (port 1) against a mock-env opponent spec or another Policy."""
    result = play_match(
        policy, opponent, games, SimConfig(timer_frames=max_frames), seed, deterministic=False
    )
    return MatchupResult(policy=policy_name, opponent=opponent_name, **dataclasses.asdict(result))


def run_closed_loop(
    policies: Mapping[str, Policy],
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
    total = len(policies) * len(opponents) + len(pairs)
    with tqdm(total=total, desc="closed loop", unit="matchup", disable=not progress, leave=False) as bar:
        for name, policy in policies.items():
            for label, spec in opponents:
                report.scripted.append(play_games(policy, spec, games, max_frames, seed, name, label))
                bar.update()
        for first, second in pairs:
            report.head_to_head.append(
                play_games(policies[first], policies[second], games, max_frames, seed, first, second)
            )
            bar.update()
    return report
