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

import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from exphil_assets.errors import UserError
from exphil_assets.features.constants import (
    LABEL_C_Y,
    LABEL_DIM,
    LABEL_MAIN_X,
    LABEL_SHOULDER,
    NUM_BUTTONS,
    STICK_CENTER,
)
from exphil_assets.features.labels import buttons_to_mask, decode_shoulder, decode_stick
from exphil_assets.rl.controller import ControllerBatch

# The learner plays port 1, the opponent port 2 (the simulator's two players).
LEARNER_PORT = 1
OPPONENT_PORT = 2
# Libmelee's CPU levels: --opponent cpu1 .. cpu9.
CPU_LEVELS = range(1, 10)


def neutral_actions(n: int) -> np.ndarray:
    """int64 [n, 13]: no buttons, both sticks centred, shoulder released (the label of no input)."""
    actions = np.zeros((n, LABEL_DIM), np.int64)
    actions[:, LABEL_MAIN_X : LABEL_C_Y + 1] = STICK_CENTER
    return actions


def actions_to_controller(actions: np.ndarray) -> ControllerBatch:
    """Label-space actions int64 [N, 13] -> controller inputs, with the label codec's exact decode.

    Row by row this equals `features.labels.decode_action`; the shoulder class drives
    the analog L trigger (labels keep only max(L, R), so L stands for both).
    """
    a = np.asarray(actions)
    if a.ndim != 2 or a.shape[1] != LABEL_DIM:
        raise ValueError(f"actions must be [N, {LABEL_DIM}] label-space classes, got shape {a.shape}")
    sticks = decode_stick(a[:, LABEL_MAIN_X : LABEL_C_Y + 1])
    return ControllerBatch(
        buttons=buttons_to_mask(a[:, :NUM_BUTTONS]),
        main_x=sticks[:, 0],
        main_y=sticks[:, 1],
        c_x=sticks[:, 2],
        c_y=sticks[:, 3],
        l=decode_shoulder(a[:, LABEL_SHOULDER]),
        r=np.zeros(len(a), np.float32),
    )


@dataclass(frozen=True)
class OpponentSpec:
    """Who plays port 2: a scripted bot (mock), an in-game CPU (dolphin) or a policy file."""

    kind: str  # "bot" | "cpu" | "policy"
    bot: str = "approach"
    """bot name (kind "bot")"""
    skill: float = 0.5
    """bot skill in [0, 1] (kind "bot")"""
    level: int = 0
    """CPU level 1-9 (kind "cpu")"""
    path: str = ""
    """exported policy (kind "policy")"""

    def __str__(self) -> str:
        if self.kind == "bot":
            return f"bot:{self.bot}:{self.skill:g}"
        if self.kind == "cpu":
            return f"cpu{self.level}"
        return f"policy:{self.path}"


def parse_opponent(text: str) -> OpponentSpec:
    """`bot:NAME[:SKILL]`, `cpuN` (N = 1-9) or `policy:PATH` -> OpponentSpec; anything else is a UserError."""
    text = text.strip()
    if m := re.fullmatch(r"cpu(\d+)", text, re.IGNORECASE):
        level = int(m.group(1))
        if level not in CPU_LEVELS:
            raise UserError(f"--opponent {text}: CPU level must be 1-9")
        return OpponentSpec("cpu", level=level)
    if text.startswith("bot:"):
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[1]:
            raise UserError(f"--opponent {text}: expected bot:NAME or bot:NAME:SKILL (e.g. bot:approach:0.5)")
        skill = 0.5
        if len(parts) == 3:
            try:
                skill = float(parts[2])
            except ValueError:
                raise UserError(f"--opponent {text}: skill {parts[2]!r} is not a number in [0, 1]") from None
            if not 0.0 <= skill <= 1.0:
                raise UserError(f"--opponent {text}: skill must be in [0, 1], got {skill:g}")
        return OpponentSpec("bot", bot=parts[1], skill=skill)
    if text.startswith("policy:") and len(text) > len("policy:"):
        return OpponentSpec("policy", path=text[len("policy:") :])
    raise UserError(f"--opponent {text!r}: expected bot:NAME[:SKILL] (mock), cpuN with N 1-9, or policy:PATH")


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
