"""The `dolphin` environment: one real Melee game in Slippi Dolphin, through libmelee.

The learner plays port 1 with a virtual controller; port 2 is an in-game CPU
(`--opponent cpuN`, N = 1-9). Each GameState is turned into frame-table columns by
the shared adapter (`features.libmelee_adapter`) and then into features by the
shared feature function, so the policy reads Dolphin exactly as it read replays.

Nothing is started before the options are checked: without Dolphin or the ISO,
`check_dolphin_options` raises a one-line UserError naming what is missing.
This environment cannot be exercised without Dolphin and a Melee ISO; it is kept
small, and only its option checks are tested here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exphil_assets.errors import UserError
from exphil_assets.features.state import build_features
from exphil_assets.rl.env import (
    LEARNER_PORT,
    OPPONENT_PORT,
    EpisodeTracker,
    Observation,
    StepInfo,
    actions_to_controller,
    neutral_actions,
    parse_opponent,
)
from exphil_assets.rl.rewards import RewardConfig, RewardTerms, compute_reward

_CONNECT_TIMEOUT_FRAMES = 60 * 60  # menu frames to wait for a game to start before giving up


@dataclass(frozen=True)
class DolphinOptions:
    """What `exphil ppo` needs to play in Dolphin."""

    dolphin: str | None = None
    """folder (or executable) of Slippi Dolphin"""
    iso: str | None = None
    """Melee NTSC 1.02 ISO"""
    character: str = "fox"
    """learner's character (libmelee Character name, e.g. fox, marth, mewtwo)"""
    opponent: str = "cpu3"
    """in-game CPU opponent: cpu1 .. cpu9"""
    opponent_character: str = "fox"
    """the CPU's character"""
    stage: str = "final_destination"
    """libmelee Stage name (final_destination, battlefield, ...)"""
    online_delay: int = 0
    """frames of online input delay Dolphin applies"""


def _enum_member(enum_type: Any, name: str, option: str) -> Any:
    key = name.strip().upper().replace("-", "_").replace(" ", "_")
    if key in enum_type.__members__:
        return enum_type[key]
    valid = ", ".join(m.lower() for m in enum_type.__members__)
    raise UserError(f"{option} {name!r} is not known to libmelee; valid: {valid}")


def check_dolphin_options(opts: DolphinOptions) -> None:
    """Raise a one-line UserError naming the first missing or bad option, before anything starts."""
    missing = [flag for flag, value in (("--dolphin PATH", opts.dolphin), ("--iso PATH", opts.iso)) if not value]
    if missing:
        raise UserError(
            f"the dolphin environment needs {' and '.join(missing)} (Slippi Dolphin and a Melee 1.02 ISO); "
            f"use --mock to train in the built-in simulator"
        )
    if not Path(opts.dolphin).exists():
        raise UserError(f"Slippi Dolphin not found at {opts.dolphin} (--dolphin)")
    if not Path(opts.iso).is_file():
        raise UserError(f"Melee ISO not found at {opts.iso} (--iso)")
    if parse_opponent(opts.opponent).kind != "cpu":
        raise UserError(f"--opponent {opts.opponent}: the dolphin environment plays in-game CPUs only (cpu1 .. cpu9)")
    if opts.online_delay < 0:
        raise UserError(f"--online-delay must be >= 0, got {opts.online_delay}")
    import melee

    _enum_member(melee.enums.Character, opts.character, "--character")
    _enum_member(melee.enums.Character, opts.opponent_character, "--opponent-character")
    _enum_member(melee.enums.Stage, opts.stage, "--stage")


class DolphinEnv:
    """One Dolphin game as a VecEnv with N = 1. See the module docstring."""

    num_envs = 1

    def __init__(self, opts: DolphinOptions, reward: RewardConfig | None = None, with_prev_action: bool = False):
        check_dolphin_options(opts)
        import melee

        self.melee = melee
        self.opts = opts
        self.reward_cfg = reward or RewardConfig()
        self.with_prev_action = with_prev_action
        self.character = _enum_member(melee.enums.Character, opts.character, "--character")
        self.opp_character = _enum_member(melee.enums.Character, opts.opponent_character, "--opponent-character")
        self.stage = _enum_member(melee.enums.Stage, opts.stage, "--stage")
        self.cpu_level = parse_opponent(opts.opponent).level
        try:
            self.console = melee.Console(path=str(opts.dolphin), online_delay=opts.online_delay, blocking_input=True)
        except Exception as exc:  # libmelee's checks of the Dolphin folder
            raise UserError(f"cannot use Slippi Dolphin at {opts.dolphin} (--dolphin): {exc}") from None
        self.pad = melee.Controller(self.console, LEARNER_PORT)
        self.cpu_pad = melee.Controller(self.console, OPPONENT_PORT)
        self.console.run(iso_path=str(opts.iso))
        if not self.console.connect():
            raise UserError(f"could not connect to Slippi Dolphin started from {opts.dolphin}")
        self.pad.connect()
        self.cpu_pad.connect()
        self.menus = melee.MenuHelper()
        self.tracker = EpisodeTracker(1)
        self._gs: Any = None
        self._prev_action = neutral_actions(1)

    # ------------------------------------------------------------------ helpers
    def _in_game(self, gs: Any) -> bool:
        return gs is not None and gs.menu_state in (self.melee.Menu.IN_GAME, self.melee.Menu.SUDDEN_DEATH)

    def _to_game(self) -> Any:
        """Drive both controllers through the menus until a game is running; return its first GameState."""
        for _ in range(_CONNECT_TIMEOUT_FRAMES):
            gs = self.console.step()
            if self._in_game(gs):
                return gs
            if gs is None:
                continue
            self.menus.menu_helper_simple(gs, self.pad, self.character, self.stage, cpu_level=0, autostart=True)
            self.menus.menu_helper_simple(gs, self.cpu_pad, self.opp_character, self.stage, cpu_level=self.cpu_level)
        raise UserError("Dolphin did not reach a game within a minute of menus; is the ISO Melee NTSC 1.02?")

    def _observe(self, gs: Any) -> Observation:
        from exphil_assets.features.libmelee_adapter import gamestate_to_columns, stage_id

        columns = gamestate_to_columns(gs, (LEARNER_PORT, OPPONENT_PORT))
        feats = build_features(
            columns, LEARNER_PORT, OPPONENT_PORT, stage_id(gs), self._prev_action if self.with_prev_action else None
        )
        return Observation(feats.floats, feats.ids)

    def _press(self, action: np.ndarray) -> None:
        """Send one label-space action [13] to the port-1 controller."""
        Button = self.melee.enums.Button
        c = actions_to_controller(action[None])
        for mask, button in (
            (0x0100, Button.BUTTON_A), (0x0200, Button.BUTTON_B), (0x0400, Button.BUTTON_X),
            (0x0800, Button.BUTTON_Y), (0x0010, Button.BUTTON_Z), (0x0040, Button.BUTTON_L),
            (0x0020, Button.BUTTON_R), (0x0008, Button.BUTTON_D_UP),
        ):  # fmt: skip
            (self.pad.press_button if int(c.buttons[0]) & mask else self.pad.release_button)(button)
        self.pad.tilt_analog_unit(Button.BUTTON_MAIN, float(c.main_x[0]), float(c.main_y[0]))
        self.pad.tilt_analog_unit(Button.BUTTON_C, float(c.c_x[0]), float(c.c_y[0]))
        self.pad.press_shoulder(Button.BUTTON_L, float(c.l[0]))

    # ------------------------------------------------------------------ VecEnv
    def reset(self) -> Observation:
        self._gs = self._to_game()
        self._prev_action = neutral_actions(1)
        self.tracker = EpisodeTracker(1)
        return self._observe(self._gs)

    def step(self, actions: np.ndarray) -> tuple[Observation, np.ndarray, np.ndarray, StepInfo]:
        action = np.asarray(actions, np.int64).reshape(1, -1)
        self._press(action[0])
        before = self._gs
        gs = self.console.step()
        ended = not self._in_game(gs)
        after = gs if not ended else before
        me0, op0 = before.players[LEARNER_PORT], before.players[OPPONENT_PORT]
        me1, op1 = after.players[LEARNER_PORT], after.players[OPPONENT_PORT]
        lost_me, lost_op = max(me0.stock - me1.stock, 0), max(op0.stock - op1.stock, 0)
        # Percent resets to 0 on a lost stock: only increases count as damage.
        dmg_me, dmg_op = max(me1.percent - me0.percent, 0.0), max(op1.percent - op0.percent, 0.0)
        done = ended or me1.stock == 0 or op1.stock == 0
        winner = 0
        if done:
            winner = 1 if (me1.stock, -me1.percent) > (op1.stock, -op1.percent) else 2
            if (me1.stock, me1.percent) == (op1.stock, op1.percent):
                winner = 0
        terms = RewardTerms(
            np.array([lost_me]), np.array([lost_op]), np.array([dmg_me]), np.array([dmg_op]),
            np.array([winner == 1 and done]), np.array([winner == 2 and done]),
        )  # fmt: skip
        reward = compute_reward(terms, self.reward_cfg)
        done_arr = np.array([done])
        ep_return, ep_length = self.tracker.update(reward, done_arr)
        info = StepInfo(
            terms.stocks_lost_self, terms.stocks_lost_opp, terms.damage_taken_self, terms.damage_taken_opp,
            np.array([winner if done else 0], np.int8), ep_return, ep_length,
        )  # fmt: skip
        self._prev_action = action
        if done:
            self.pad.release_all()
            self._gs = self._to_game()
            self._prev_action = neutral_actions(1)
        else:
            self._gs = gs
        return self._observe(self._gs), reward, done_arr, info

    def close(self) -> None:
        self.console.stop()
