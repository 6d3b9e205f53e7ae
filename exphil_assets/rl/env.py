"""The batched environment API that PPO and closed-loop evaluation speak.

An environment runs N games at once. The learner is port 1, the opponent port 2.
- `reset() -> Observation`: features of the first frame of every game;
- `step(actions) -> (obs, reward, done, info)`: `actions` are label-space actions
  int64 [N, 13] (ARCHITECTURE.md label layout), decoded to controller inputs with
  the label codec's exact decode; a game that ends is reset at once, so `obs`
  row i is then the first frame of the next game and `done[i]` is True.

Observations are the model's own inputs, built by the one shared feature function
(`features.state`), so a policy trained on replays reads the environment unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

# The learner plays port 1, the opponent port 2 (the simulator's two players).
LEARNER_PORT = 1
OPPONENT_PORT = 2


@dataclass
class Observation:
    """Model inputs for N games: floats [N, F] float32 and ids [N, K] int64."""

    floats: np.ndarray
    ids: np.ndarray

    def to_torch(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(floats, ids) as tensors [N, F] float32 and [N, K] int64."""
        return (
            torch.as_tensor(self.floats, dtype=torch.float32, device=device),
            torch.as_tensor(self.ids, dtype=torch.long, device=device),
        )


@dataclass
class StepInfo:
    """What happened in each of the N games this step, from the learner's side. Arrays [N]."""

    stocks_lost_self: np.ndarray
    stocks_lost_opp: np.ndarray
    damage_taken_self: np.ndarray
    damage_taken_opp: np.ndarray
    winner: np.ndarray
    """int8 where done: 1 the learner won, 2 the opponent won, 0 a draw; 0 where not done"""
    episode_return: np.ndarray
    """float32: the total reward of the game that ended this step (NaN where not done)"""
    episode_length: np.ndarray
    """int64: frames of the game that ended this step (0 where not done)"""


class VecEnv(Protocol):
    """N games stepped together; see the module docstring."""

    num_envs: int

    def reset(self) -> Observation: ...

    def step(self, actions: np.ndarray) -> tuple[Observation, np.ndarray, np.ndarray, StepInfo]: ...

    def close(self) -> None: ...


class EpisodeTracker:
    """Running return and length of each game, reported in `StepInfo` when a game ends."""

    def __init__(self, num_envs: int):
        self.returns = np.zeros(num_envs, np.float64)
        self.lengths = np.zeros(num_envs, np.int64)

    def update(self, reward: np.ndarray, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add one step; return (episode_return, episode_length) of games that ended (NaN / 0 elsewhere)."""
        self.returns += reward
        self.lengths += 1
        ep_return = np.where(done, self.returns, np.nan).astype(np.float32)
        ep_length = np.where(done, self.lengths, 0)
        self.returns[done] = 0.0
        self.lengths[done] = 0
        return ep_return, ep_length
