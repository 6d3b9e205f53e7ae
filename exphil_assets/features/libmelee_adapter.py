"""libmelee GameState -> frame-table columns, so live play feeds `build_features` the same names.

What libmelee gives differently, and how each column is filled:
- `facing` is a bool: written as +1.0 / -1.0 (build_features only reads its sign).
- `state_age` is libmelee's `action_frame`: int(state_age), plus 1 for the leader actions
  libmelee re-indexes (its actiondata.csv "zeroindex"; never for Nana); we undo that +1. build_features
  truncates state age, so the feature is the same as from a replay.
- `hitlag`, `hitstun` are int-truncated by libmelee; build_features truncates them too.
- `hurtbox_state` is libmelee's `invulnerable` (hurtbox state != 0) as 0/1: the 1-vs-2
  (invulnerable vs intangible) distinction is lost; build_features only reads != 0.
- sticks are rescaled by libmelee to [0, 1] as v/2 + 0.5; we invert that.

Columns libmelee does NOT provide (absent here, so null; none of them is a model feature):
- `state_flags_1` … `state_flags_5` (build_features reads flags 2 only when
  `hurtbox_state` is null, which never happens for a libmelee state);
- `trigger_l`, `trigger_r` (physical analog triggers): libmelee only keeps the processed
  trigger, written to `trigger`;
- `ground`, `l_cancel`, `last_attack_landed`, `combo_count`, `last_hit_by`;
- `buttons` (processed) above the 16 physical bits (stick/trigger direction bits).
The stage: libmelee only knows the six legal stages (others are NO_STAGE, id 0 here),
see `stage_id`.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import melee
import numpy as np

from exphil_assets.features.constants import BUTTON_MASKS
from exphil_assets.replays.frame_schema import PLAYER_FIELDS

# libmelee's Stage enum -> external stage id (inverse of melee.enums.to_internal_stage).
_STAGE_EXTERNAL_ID = {
    melee.enums.Stage.FOUNTAIN_OF_DREAMS: 2,
    melee.enums.Stage.POKEMON_STADIUM: 3,
    melee.enums.Stage.YOSHIS_STORY: 8,
    melee.enums.Stage.DREAMLAND: 28,
    melee.enums.Stage.BATTLEFIELD: 31,
    melee.enums.Stage.FINAL_DESTINATION: 32,
}
# Every physical bit libmelee decodes (Slippi spec "Physical Buttons").
_PHYSICAL_BITS = {
    melee.enums.Button.BUTTON_A: 0x0100,
    melee.enums.Button.BUTTON_B: 0x0200,
    melee.enums.Button.BUTTON_X: 0x0400,
    melee.enums.Button.BUTTON_Y: 0x0800,
    melee.enums.Button.BUTTON_START: 0x1000,
    melee.enums.Button.BUTTON_Z: 0x0010,
    melee.enums.Button.BUTTON_R: 0x0020,
    melee.enums.Button.BUTTON_L: 0x0040,
    melee.enums.Button.BUTTON_D_LEFT: 0x0001,
    melee.enums.Button.BUTTON_D_RIGHT: 0x0002,
    melee.enums.Button.BUTTON_D_DOWN: 0x0004,
    melee.enums.Button.BUTTON_D_UP: 0x0008,
}
assert set(BUTTON_MASKS) <= set(_PHYSICAL_BITS.values())
NOT_PROVIDED: tuple[str, ...] = (
    "state_flags_1", "state_flags_2", "state_flags_3", "state_flags_4", "state_flags_5",
    "trigger_l", "trigger_r", "ground", "l_cancel", "last_attack_landed", "combo_count", "last_hit_by",
)  # fmt: skip
_DTYPES = {f.name: np.dtype(f.dtype) for f in PLAYER_FIELDS}


@lru_cache(maxsize=1)
def _zero_indexed_actions() -> dict[int, frozenset[int]]:
    """character -> actions whose action_frame libmelee shifts by +1 (its actiondata.csv)."""
    table: dict[int, set[int]] = defaultdict(set)
    with open(Path(melee.__file__).parent / "actiondata.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["zeroindex"] == "True":
                table[int(row["character"])].add(int(row["action"]))
    return {c: frozenset(a) for c, a in table.items()}


def stage_id(gs: Any) -> int:
    """External stage id of a GameState; 0 (unknown) for stages libmelee does not map."""
    return _STAGE_EXTERNAL_ID.get(gs.stage, 0)


def _button_bits(buttons: dict) -> int:
    return sum(bit for button, bit in _PHYSICAL_BITS.items() if buttons.get(button, False))


def _player_values(player: Any, is_nana: bool) -> dict[str, float]:
    """One libmelee PlayerState -> frame-table field values (no prefix)."""
    character = int(player.character.value)
    action = int(player.action.value)
    # libmelee re-indexes action_frame for leaders only (Console.__fixframeindexing skips Nana).
    shift = 1 if not is_nana and action in _zero_indexed_actions().get(character, ()) else 0
    ctrl = player.controller_state
    main_x, main_y = ctrl.main_stick
    c_x, c_y = ctrl.c_stick
    return {
        "buttons_physical": _button_bits(ctrl.button),
        "buttons": _button_bits(ctrl.processed_button),
        "joystick_x": (main_x - 0.5) * 2,
        "joystick_y": (main_y - 0.5) * 2,
        "cstick_x": (c_x - 0.5) * 2,
        "cstick_y": (c_y - 0.5) * 2,
        "trigger": ctrl.l_shoulder,
        "character": character,
        "action_state": action,
        "x": player.position.x,
        "y": player.position.y,
        "facing": 1.0 if player.facing else -1.0,
        "percent": player.percent,
        "shield": player.shield_strength,
        "state_age": player.action_frame - shift,
        "stocks": player.stock,
        "jumps": player.jumps_left,
        "airborne": 0 if player.on_ground else 1,
        "hitstun": player.hitstun_frames_left,
        "hitlag": player.hitlag_left,
        "vel_self_x_air": player.speed_air_x_self,
        "vel_self_y": player.speed_y_self,
        "vel_knockback_x": player.speed_x_attack,
        "vel_knockback_y": player.speed_y_attack,
        "vel_self_x_ground": player.speed_ground_x_self,
        "hurtbox_state": 1 if player.invulnerable else 0,
    }


def gamestate_to_columns(gs: Any, ports: Sequence[int]) -> dict[str, np.ndarray]:
    """One GameState -> frame-table columns `[1]` for `ports` (Nana columns only when present)."""
    columns: dict[str, np.ndarray] = {"frame": np.array([gs.frame], dtype=np.int32)}
    for port in ports:
        player = gs.players.get(port)
        if player is None:
            continue
        followers = [(f"p{port}_", player, False)]
        if player.nana is not None:
            followers.append((f"p{port}_nana_", player.nana, True))
        for prefix, state, is_nana in followers:
            for name, value in _player_values(state, is_nana).items():
                columns[prefix + name] = np.array([value], dtype=_DTYPES[name])
    return columns


def stack_columns(frames: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ma.MaskedArray]:
    """Per-frame column dicts -> one dict of `[T]` masked arrays (masked where a frame lacks it)."""
    frames = list(frames)
    names = sorted({name for f in frames for name in f})
    out: dict[str, np.ma.MaskedArray] = {}
    for name in names:
        dtype = next(f[name].dtype for f in frames if name in f)
        data = np.zeros(len(frames), dtype=dtype)
        mask = np.ones(len(frames), dtype=bool)
        for i, f in enumerate(frames):
            if name in f:
                data[i] = f[name][0]
                mask[i] = False
        out[name] = np.ma.MaskedArray(data, mask=mask)
    return out
