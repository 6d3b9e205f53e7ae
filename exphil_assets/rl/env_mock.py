"""The `mock` environment: N simulator games at once, the learner on port 1.

Port 2 is a scripted bot (`bot:approach:0.5`, `bot:defensive:0.8`, `bot:random`;
`cpuN` maps to the approach bot with skill (N - 1) / 8) or another policy
(`policy:PATH`, or a `PolicyOpponent` object for head-to-head evaluation). A policy
opponent reads the mirrored view: the same feature function with ego_port=2.

Both players act on the same state each frame; the simulator then advances every
game, the reward is computed from what happened (rl/rewards.py), and games that
ended are reset at once (their opponents and previous actions too).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from exphil_assets.errors import UserError
from exphil_assets.features.state import build_features
from exphil_assets.nets.policy import Policy
from exphil_assets.rl import sim_constants
from exphil_assets.rl.bots import BOTS, make_bot
from exphil_assets.rl.controller import ControllerBatch
from exphil_assets.rl.env import (
    LEARNER_PORT,
    OPPONENT_PORT,
    EpisodeTracker,
    Observation,
    OpponentSpec,
    StepInfo,
    actions_to_controller,
    neutral_actions,
    parse_opponent,
)
from exphil_assets.rl.rewards import RewardConfig, RewardTerms, compute_reward
from exphil_assets.rl.simulator import MeleeSim, SimConfig

STAGE = sim_constants.STAGE_ID  # the simulator plays Final Destination


class Opponent(Protocol):
    """Plays port 2 of N games: inputs from the state columns; forgets games that ended."""

    def act(self, columns: dict[str, np.ndarray]) -> ControllerBatch: ...

    def reset(self, mask: np.ndarray) -> None: ...


class BotOpponent:
    """A scripted bot (rl/bots.py) on port 2."""

    def __init__(self, name: str, skill: float, num_envs: int, seed: int):
        if name not in BOTS:
            raise UserError(f"--opponent bot:{name}: unknown bot; choose one of: {', '.join(BOTS)}")
        self.bot = make_bot(f"{name}:{skill}", num_envs, seed)

    def act(self, columns: dict[str, np.ndarray]) -> ControllerBatch:
        return self.bot.act(columns, OPPONENT_PORT)

    def reset(self, mask: np.ndarray) -> None:
        self.bot.reset(mask)


class PolicyDriver:
    """A Policy playing N games in step mode: carries its backbone state, resets it per game."""

    def __init__(self, policy: Policy, num_envs: int, deterministic: bool = False, seed: int = 0):
        self.policy = policy.eval()
        self.deterministic = deterministic
        self.device = next(policy.parameters()).device  # features go to the policy's device, actions come back
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.state = policy.init_state(num_envs, self.device)

    def act(self, floats: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Features [N, F], [N, K] -> label-space actions int64 [N, 13]."""
        f = torch.as_tensor(floats, dtype=torch.float32, device=self.device)
        i = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        self.state, action = self.policy.act(self.state, f, i, self.deterministic, self.generator)
        return action.cpu().numpy()

    def reset(self, mask: np.ndarray) -> None:
        if len(self.state) and mask.any():
            self.state = self.policy.reset_state(self.state, torch.as_tensor(mask, device=self.device))


class PolicyOpponent:
    """A Policy on port 2, seeing the game from its own side (ego_port=2)."""

    def __init__(
        self, policy: Policy, num_envs: int, with_prev_action: bool, deterministic: bool = False, seed: int = 0
    ):
        self.driver = PolicyDriver(policy, num_envs, deterministic, seed)
        self.with_prev_action = with_prev_action
        self.prev_action = neutral_actions(num_envs)

    def act(self, columns: dict[str, np.ndarray]) -> ControllerBatch:
        prev = self.prev_action if self.with_prev_action else None
        feats = build_features(columns, OPPONENT_PORT, LEARNER_PORT, STAGE, prev)
        self.prev_action = self.driver.act(feats.floats, feats.ids)
        return actions_to_controller(self.prev_action)

    def reset(self, mask: np.ndarray) -> None:
        self.driver.reset(mask)
        self.prev_action[mask] = neutral_actions(int(mask.sum()))


def make_opponent(spec: OpponentSpec | str, num_envs: int, seed: int) -> Opponent:
    """The port-2 player of a mock env from an --opponent spec."""
    spec = parse_opponent(spec) if isinstance(spec, str) else spec
    if spec.kind == "bot":
        return BotOpponent(spec.bot, spec.skill, num_envs, seed)
    if spec.kind == "cpu":
        return BotOpponent("approach", (spec.level - 1) / 8, num_envs, seed)
    from exphil_assets.training.checkpoints import load_policy

    policy, meta = load_policy(spec.path)
    with_prev = bool(meta.get("feature_spec", {}).get("with_prev_action", False))
    return PolicyOpponent(policy, num_envs, with_prev, seed=seed)


class MockEnv:
    """N simulator games as a VecEnv (rl/env.py). See the module docstring."""

    def __init__(
        self,
        num_envs: int,
        opponent: OpponentSpec | str | Opponent = "bot:approach:0.5",
        reward: RewardConfig | None = None,
        sim_config: SimConfig | None = None,
        seed: int = 0,
        with_prev_action: bool = False,
    ):
        self.num_envs = num_envs
        self.sim = MeleeSim(num_envs, sim_config, seed)
        is_spec = isinstance(opponent, str | OpponentSpec)
        self.opponent: Opponent = make_opponent(opponent, num_envs, seed + 1) if is_spec else opponent
        self.reward_cfg = reward or RewardConfig()
        self.with_prev_action = with_prev_action
        self.prev_action = neutral_actions(num_envs)
        self.tracker = EpisodeTracker(num_envs)
        self._columns = self.sim.state_columns()

    def _observe(self) -> Observation:
        prev = self.prev_action if self.with_prev_action else None
        feats = build_features(self._columns, LEARNER_PORT, OPPONENT_PORT, STAGE, prev)
        return Observation(feats.floats, feats.ids)

    def reset(self) -> Observation:
        everything = np.ones(self.num_envs, bool)
        self.sim.reset()
        self.opponent.reset(everything)
        self.prev_action = neutral_actions(self.num_envs)
        self.tracker = EpisodeTracker(self.num_envs)
        self._columns = self.sim.state_columns()
        return self._observe()

    def step(self, actions: np.ndarray) -> tuple[Observation, np.ndarray, np.ndarray, StepInfo]:
        actions = np.asarray(actions, np.int64)
        opp_inputs = self.opponent.act(self._columns)
        result = self.sim.step(actions_to_controller(actions), opp_inputs)
        done = result.done.copy()
        terms = RewardTerms(
            stocks_lost_self=result.stocks_lost[:, 0], stocks_lost_opp=result.stocks_lost[:, 1],
            damage_taken_self=result.damage_taken[:, 0], damage_taken_opp=result.damage_taken[:, 1],
            won=done & (result.winner == LEARNER_PORT), lost=done & (result.winner == OPPONENT_PORT),
        )  # fmt: skip
        reward = compute_reward(terms, self.reward_cfg)
        ep_return, ep_length = self.tracker.update(reward, done)
        info = StepInfo(
            terms.stocks_lost_self, terms.stocks_lost_opp, terms.damage_taken_self, terms.damage_taken_opp,
            result.winner.copy(), ep_return, ep_length,
        )  # fmt: skip
        self.prev_action = actions.copy()
        if done.any():
            self.sim.reset(done)
            self.opponent.reset(done)
            self.prev_action[done] = neutral_actions(int(done.sum()))
        self._columns = self.sim.state_columns()
        return self._observe(), reward, done, info

    def close(self) -> None:
        pass
