"""Every number of the Melee-like simulator in one place: stage, characters, attacks, action ids.

Action-state ids are real Melee ids taken from `melee.enums.Action`, and character ids
are real external (character-select) and internal (in-game) ids, so a simulated frame
reads like a replay frame to the shared feature function and to `.slp` readers.
The physics numbers are approximations of Melee's (gravity, jump speeds, knockback
formula, hitstun = 0.4 x knockback) chosen so games look plausible; they are not
frame data.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from melee.enums import Action

A = Action
# Action ids as plain ints (an Enum attribute lookup costs ~1 us; the step does hundreds).
ACT = SimpleNamespace(**{name: member.value for name, member in Action.__members__.items()})

# --- stage: Final Destination --------------------------------------------------------------
STAGE_ID = 32  # external stage id of Final Destination
GROUND_ID = 1  # the "last ground id" real FD replays report once a player has landed
NO_GROUND = 65535  # before the first landing (real replays: 0xFFFF)
EDGE_X = 85.5656967163  # |x| of the stage edge (libmelee EDGE_GROUND_POSITION for FD)
STAGE_DEPTH = 20.0  # the stage is a solid block from y = 0 down to -STAGE_DEPTH
BLAST_X = 246.0  # |x| beyond which a player loses a stock
BLAST_TOP = 188.0
BLAST_BOTTOM = -140.0
SPAWN_X = (-60.0, 60.0)  # game-start positions of ports 1 and 2 (as in real FD replays)
SPAWN_Y = 10.0
RESPAWN_X = (-25.0, 25.0)  # revival platforms
RESPAWN_Y = 45.0

# --- ledge --------------------------------------------------------------------------------
LEDGE_GRAB_X = (-12.0, 16.0)  # grab box in |x| - EDGE_X: from inside the edge to beyond it
LEDGE_GRAB_Y = (-28.0, 2.0)  # grab box in y (the ledge is at y = 0)
LEDGE_HANG_DX = 2.0  # hang position: |x| = EDGE_X + LEDGE_HANG_DX
LEDGE_HANG_Y = -8.0
LEDGE_CATCH_FRAMES = 7
LEDGE_MAX_HANG = 300  # frames hanging before the player lets go
LEDGE_REGRAB_COOLDOWN = 30
LEDGE_INTANGIBLE = 30  # frames of intangibility on catching the ledge
LEDGE_GETUP_FRAMES = 30
LEDGE_GETUP_DX = 10.0  # where a getup puts the player: |x| = EDGE_X - LEDGE_GETUP_DX
LEDGE_JUMP_FRAMES = 10

# --- timing ------------------------------------------------------------------------------
FPS = 60
COUNTDOWN_FRAMES = 123  # replays start at frame -123; frame 0 starts the game timer
# The entry: ENTRY for what the countdown leaves, then ENTRY_START and ENTRY_END, then the players
# drop in with DROP_IN_FRAMES left (real replays: playable from about frame -39).
ENTRY_START_FRAMES = 28
ENTRY_END_FRAMES = 24
DROP_IN_FRAMES = 40
DEAD_FRAMES = 90  # frames between a KO and the revival platform
HALO_MIN_FRAMES = 20  # frames on the revival platform before input can drop the player
HALO_MAX_FRAMES = 120  # frames on the revival platform before it drops the player
RESPAWN_INVULNERABLE = 120  # frames of invulnerability after leaving the platform
LANDING_LAG = 4  # normal landing
SPECIAL_LANDING_LAG = 10  # landing from helpless fall (after an airdodge)
SHIELD_RELEASE_FRAMES = 15
SHIELD_BREAK_FRAMES = 180  # dizzy after a shield break
TECH_MISS_FRAMES = 30  # landing in tumble: lie down, then stand
DASH_FRAMES = 11  # a dash becomes a run after this many frames

# --- controller thresholds -------------------------------------------------------------------
STICK_DEADZONE = 0.2875  # Melee's processed-stick deadzone (23/80)
WALK_THRESHOLD = 0.3
DASH_THRESHOLD = 0.8  # |x| at or above dashes (and a fresh push to it with A is a smash)
SMASH_FROM = 0.3  # a smash input starts from below this |x| (or |y|) the frame before
CSTICK_THRESHOLD = 0.7
CROUCH_THRESHOLD = -0.6
FAST_FALL_THRESHOLD = -0.66
TRIGGER_THRESHOLD = 0.3  # analog shield from here
LCANCEL_WINDOW = 7  # frames an L/R/Z press before landing halves an aerial's landing lag
AIRDODGE_SPEED = 3.1
AIRDODGE_DECAY = 0.9
AIRDODGE_FRAMES = 49
AIRDODGE_INTANGIBLE = (4, 29)

# --- knockback (Melee's formula) ------------------------------------------------------------
KNOCKBACK_DECAY = 0.051  # launch speed lost per frame
LAUNCH_SPEED_PER_KB = 0.03
HITSTUN_PER_KB = 0.4
TUMBLE_KB = 80.0  # knockback from which a hit launches into tumble (DAMAGE_FLY_*)
SHIELD_MAX = 60.0
SHIELD_DECAY = 0.28  # per frame held
SHIELD_REGEN = 0.07  # per frame not held
SHIELD_BREAK_RESET = 30.0

# --- buttons (physical bitmask of a Slippi pre-frame) -------------------------------------------
BUTTON_DPAD_UP = 0x0008
BUTTON_Z = 0x0010
BUTTON_R = 0x0020
BUTTON_L = 0x0040
BUTTON_A = 0x0100
BUTTON_B = 0x0200
BUTTON_X = 0x0400
BUTTON_Y = 0x0800
BUTTON_START = 0x1000
# Processed-button bits above the physical 16 (Slippi pre-frame "processed buttons").
PROCESSED_STICK_UP, PROCESSED_STICK_DOWN = 0x10000, 0x20000
PROCESSED_STICK_LEFT, PROCESSED_STICK_RIGHT = 0x40000, 0x80000
PROCESSED_C_UP, PROCESSED_C_DOWN = 0x100000, 0x200000
PROCESSED_C_LEFT, PROCESSED_C_RIGHT = 0x400000, 0x800000
PROCESSED_ANALOG_TRIGGER = 0x80000000
Z_ANALOG_TRIGGER = 0.35  # Z reads as a 0.35 analog press in the processed trigger

# --- post-frame state flag bits ------------------------------------------------------------------
FLAG2_FASTFALL = 0x08
FLAG2_HITLAG = 0x20
FLAG2_SHIELDING = 0x80
FLAG3_HITSTUN = 0x08
FLAG4_DEAD = 0x40
HURTBOX_VULNERABLE, HURTBOX_INVULNERABLE, HURTBOX_INTANGIBLE = 0, 1, 2
NO_HITTER = 6  # last_hit_by before anyone hit this player


# --- characters ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CharacterPhysics:
    """One character's movement numbers (Melee-like units: frames and stage units)."""

    name: str
    external_id: int
    internal_id: int
    weight: float
    gravity: float
    max_fall: float
    fast_fall: float
    jumpsquat: int
    full_hop: float  # initial vertical speed
    short_hop: float
    double_jump: float
    jumps: int  # total jumps including the ground jump
    walk_max: float
    dash_initial: float
    run_max: float
    friction: float
    air_max: float
    air_accel: float
    air_friction: float
    hurt_height: float  # hurtbox: a vertical segment of this height with this radius
    hurt_radius: float
    reach: float  # scales attack hitbox offsets and sizes
    power: float  # scales attack damage
    # Up-B recovery: the character's own action ids (0: none simulated), a startup that
    # hovers, then a straight flight along the stick (free_angle) or mostly upward.
    up_b_start_action: int = 0
    up_b_travel_action: int = 0
    up_b_startup: int = 0
    up_b_frames: int = 0
    up_b_speed: float = 0.0
    up_b_free_angle: bool = True


# Fox and Falco share action ids for Firefox/Firebird (libmelee FIREFOX_WAIT_AIR, FIREFOX_AIR);
# Marth's Dolphin Slash is libmelee UP_B_AIR. The other characters have no up-B here.
_FIREFOX = (A.FIREFOX_WAIT_AIR.value, A.FIREFOX_AIR.value)
CHARACTERS: tuple[CharacterPhysics, ...] = (
    CharacterPhysics("FOX", 2, 1, 75, 0.23, 2.8, 3.4, 3, 3.68, 2.1, 4.42, 2, 1.6, 2.02, 2.2, 0.08, 0.83, 0.06, 0.02, 13, 4.0, 1.0, 1.0,
                     *_FIREFOX, 20, 30, 3.0, True),
    CharacterPhysics("FALCO", 20, 22, 80, 0.17, 3.1, 3.5, 5, 4.1, 1.9, 4.92, 2, 1.4, 1.9, 1.5, 0.08, 0.83, 0.07, 0.02, 14, 4.0, 1.0, 1.05,
                     *_FIREFOX, 20, 25, 3.0, True),
    CharacterPhysics("MARTH", 9, 18, 87, 0.085, 2.2, 2.5, 4, 2.4, 1.5, 2.11, 2, 1.6, 1.8, 1.8, 0.06, 0.9, 0.05, 0.005, 16, 4.5, 1.45, 1.05,
                     A.UP_B_AIR.value, A.UP_B_AIR.value, 4, 18, 3.2, False),
    CharacterPhysics("SHEIK", 19, 7, 90, 0.12, 2.13, 2.8, 3, 2.8, 2.14, 3.0, 2, 1.2, 1.9, 2.13, 0.06, 0.8, 0.06, 0.04, 14, 4.2, 1.0, 0.9),
    CharacterPhysics("CAPTAIN_FALCON", 0, 2, 104, 0.13, 2.9, 3.5, 4, 3.1, 1.9, 2.79, 2, 1.6, 2.3, 2.3, 0.08, 1.12, 0.06, 0.01, 17, 4.8, 1.1, 1.15),
    CharacterPhysics("JIGGLYPUFF", 15, 15, 60, 0.064, 1.3, 1.6, 5, 1.6, 1.4, 1.6, 6, 1.1, 1.3, 1.1, 0.09, 1.35, 0.28, 0.05, 11, 5.0, 0.9, 0.95),
)  # fmt: skip
INTERNAL_TO_EXTERNAL: dict[int, int] = {c.internal_id: c.external_id for c in CHARACTERS}
# Lower-case names without separators -> index into CHARACTERS.
_CHARACTER_KEYS: dict[str, int] = {c.name.replace("_", "").lower(): i for i, c in enumerate(CHARACTERS)}
_CHARACTER_KEYS.update({"falcon": 4, "cf": 4, "puff": 5, "jiggs": 5})


def character_index(name: str) -> int:
    """Index into CHARACTERS of a character name or alias ('fox', 'Falcon', 'captain_falcon')."""
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    if key not in _CHARACTER_KEYS:
        supported = ", ".join(c.name.lower() for c in CHARACTERS)
        raise ValueError(f"character {name!r} is not simulated; choose one of: {supported}")
    return _CHARACTER_KEYS[key]


def _character_table(field: str, dtype=np.float32) -> np.ndarray:
    return np.array([getattr(c, field) for c in CHARACTERS], dtype=dtype)


# --- attacks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attack:
    """One attack: frames are 1-based like Melee frame data (active from `start` to `end`)."""

    name: str
    action: int
    attack_id: int  # Melee's attack id (post-frame "last attack landed")
    start: int
    end: int
    total: int  # frames until the attacker can act again
    hit_x: float  # hitbox centre relative to the attacker, x times facing
    hit_y: float
    radius: float
    damage: float
    angle: float  # launch angle in degrees, away from the attacker (negative: downward)
    base_kb: float
    kb_growth: float
    landing_action: int = 0  # aerials: the landing-lag action
    landing_lag: int = 0


ATTACKS: tuple[Attack, ...] = (
    Attack("jab", A.NEUTRAL_ATTACK_1.value, 2, 2, 3, 16, 7, 7, 4.0, 4, 35, 15, 50),
    Attack("ftilt", A.FTILT_MID.value, 7, 5, 8, 26, 9, 7, 4.5, 9, 30, 15, 100),
    Attack("utilt", A.UPTILT.value, 8, 5, 11, 23, 3, 14, 6.0, 12, 85, 18, 120),
    Attack("dtilt", A.DOWNTILT.value, 9, 7, 9, 28, 8, 2, 4.5, 10, 75, 25, 100),
    Attack("dash_attack", A.DASH_ATTACK.value, 6, 4, 17, 39, 6, 6, 5.0, 7, 70, 30, 80),
    Attack("fsmash", A.FSMASH_MID.value, 10, 12, 22, 39, 11, 7, 5.5, 16, 40, 10, 110),
    Attack("usmash", A.UPSMASH.value, 11, 7, 17, 41, 1, 15, 6.5, 17, 80, 20, 110),
    Attack("dsmash", A.DOWNSMASH.value, 12, 6, 9, 49, 0, 3, 10.0, 14, 25, 20, 85),
    Attack("nair", A.NAIR.value, 13, 4, 10, 42, 3, 7, 6.5, 12, 45, 10, 100, A.NAIR_LANDING.value, 15),
    Attack("fair", A.FAIR.value, 14, 6, 20, 59, 8, 6, 5.5, 9, 50, 10, 100, A.FAIR_LANDING.value, 22),
    Attack("bair", A.BAIR.value, 15, 4, 19, 39, -8, 7, 5.5, 13, 40, 10, 100, A.BAIR_LANDING.value, 20),
    Attack("uair", A.UAIR.value, 16, 8, 10, 39, 1, 15, 6.5, 15, 80, 20, 100, A.UAIR_LANDING.value, 18),
    Attack("dair", A.DAIR.value, 17, 5, 20, 49, 1, -1, 6.0, 10, -70, 10, 80, A.DAIR_LANDING.value, 18),
)  # fmt: skip
ATTACK_INDEX: dict[str, int] = {a.name: i for i, a in enumerate(ATTACKS)}
NO_ATTACK = -1


def _attack_table(field: str, dtype=np.float32) -> np.ndarray:
    return np.array([getattr(a, field) for a in ATTACKS], dtype=dtype)


# Tables indexed [character, attack] (reach and power applied) or [attack].
ATK_ACTION = _attack_table("action", np.int32)
ATK_ID = _attack_table("attack_id", np.int32)
ATK_START = _attack_table("start", np.int32) - 1  # as state ages (0 on an action's first frame)
ATK_END = _attack_table("end", np.int32) - 1
ATK_TOTAL = _attack_table("total", np.int32)
ATK_LANDING_ACTION = _attack_table("landing_action", np.int32)
ATK_LANDING_LAG = _attack_table("landing_lag", np.int32)
ATK_HIT_X = _character_table("reach")[:, None] * _attack_table("hit_x")[None, :]
ATK_HIT_Y = _character_table("reach")[:, None] * _attack_table("hit_y")[None, :]
ATK_RADIUS = _character_table("reach")[:, None] * _attack_table("radius")[None, :]
ATK_DAMAGE = np.round(_character_table("power")[:, None] * _attack_table("damage")[None, :], 1).astype(
    np.float32
)
_ANGLE = np.deg2rad(_attack_table("angle").astype(np.float64))
ATK_COS = np.cos(_ANGLE).astype(np.float32)  # precomputed: no transcendental math in the hot loop
ATK_SIN = np.sin(_ANGLE).astype(np.float32)
ATK_BASE_KB = _attack_table("base_kb")
ATK_KB_GROWTH = _attack_table("kb_growth")

# --- action-state tables (indexed by action id) ------------------------------------------------
ACTION_TABLE_SIZE = 512


def _action_mask(*actions: int) -> np.ndarray:
    mask = np.zeros(ACTION_TABLE_SIZE, bool)
    mask[list(actions)] = True
    return mask


DAMAGE_GROUND_ACTIONS = (A.DAMAGE_HIGH_1.value, A.DAMAGE_NEUTRAL_1.value, A.DAMAGE_LOW_1.value)
DAMAGE_FLY_ACTIONS = (A.DAMAGE_FLY_HIGH.value, A.DAMAGE_FLY_NEUTRAL.value, A.DAMAGE_FLY_LOW.value)
DEAD_ACTIONS = (A.DEAD_DOWN.value, A.DEAD_LEFT.value, A.DEAD_RIGHT.value, A.DEAD_FLY_STAR.value)
WALK_ACTIONS = (A.WALK_SLOW.value, A.WALK_MIDDLE.value, A.WALK_FAST.value)
JUMP_ACTIONS = (
    A.JUMPING_FORWARD.value, A.JUMPING_BACKWARD.value,
    A.JUMPING_ARIAL_FORWARD.value, A.JUMPING_ARIAL_BACKWARD.value,
)  # fmt: skip

# States where the player reads the controller freely (nothing locks them).
ACTIONABLE = _action_mask(
    A.STANDING.value, *WALK_ACTIONS, A.TURNING.value, A.DASHING.value, A.RUNNING.value,
    A.CROUCHING.value, *JUMP_ACTIONS, A.FALLING.value, A.TUMBLING.value, A.SHIELD.value,
    A.EDGE_HANGING.value, A.ON_HALO_WAIT.value,
)  # fmt: skip
# Ground states a player drops out of into FALLING when they pass the edge.
GROUND_IDLE = _action_mask(
    A.STANDING.value, *WALK_ACTIONS, A.TURNING.value, A.DASHING.value, A.RUNNING.value,
    A.CROUCHING.value, A.SHIELD.value, A.LANDING.value,
)  # fmt: skip
# States with no physics: position and speeds hold still.
STATIC = _action_mask(
    A.ENTRY.value, A.ENTRY_START.value, A.ENTRY_END.value, A.EDGE_CATCHING.value,
    A.EDGE_HANGING.value, A.EDGE_GETUP_QUICK.value, A.ON_HALO_WAIT.value, *DEAD_ACTIONS,
)  # fmt: skip
DAMAGED = _action_mask(*DAMAGE_GROUND_ACTIONS, A.DAMAGE_AIR_1.value, *DAMAGE_FLY_ACTIONS)
TUMBLE = _action_mask(*DAMAGE_FLY_ACTIONS, A.TUMBLING.value)
SHIELDING = _action_mask(A.SHIELD.value, A.SHIELD_STUN.value)
DEAD = _action_mask(*DEAD_ACTIONS)
HELPLESS = _action_mask(A.SPECIAL_FALL_FORWARD.value)
ON_LEDGE = _action_mask(A.EDGE_CATCHING.value, A.EDGE_HANGING.value, A.EDGE_GETUP_QUICK.value)

# When a locked action's timer runs out: the next action (on the ground / in the air) and its lock.
END_NEXT_GROUND = np.full(ACTION_TABLE_SIZE, A.STANDING.value, np.int32)
END_NEXT_AIR = np.full(ACTION_TABLE_SIZE, A.FALLING.value, np.int32)
END_NEXT_LOCK = np.zeros(ACTION_TABLE_SIZE, np.int32)
for _a in DAMAGE_FLY_ACTIONS:
    END_NEXT_AIR[_a] = A.TUMBLING.value
END_NEXT_GROUND[A.ENTRY.value] = END_NEXT_AIR[A.ENTRY.value] = A.ENTRY_START.value
END_NEXT_LOCK[A.ENTRY.value] = ENTRY_START_FRAMES
END_NEXT_GROUND[A.ENTRY_START.value] = END_NEXT_AIR[A.ENTRY_START.value] = A.ENTRY_END.value
END_NEXT_LOCK[A.ENTRY_START.value] = ENTRY_END_FRAMES
END_NEXT_GROUND[A.EDGE_CATCHING.value] = END_NEXT_AIR[A.EDGE_CATCHING.value] = A.EDGE_HANGING.value
END_NEXT_AIR[A.AIRDODGE.value] = A.SPECIAL_FALL_FORWARD.value
END_NEXT_AIR[A.EDGE_GETUP_QUICK.value] = A.STANDING.value  # the getup ends standing on the stage
END_NEXT_GROUND[A.SHIELD_STUN.value] = A.SHIELD.value
END_NEXT_GROUND[A.KNEE_BEND.value] = A.JUMPING_FORWARD.value  # direction and hop height set on exit
for _a in DEAD_ACTIONS:  # a KO'd player reappears on the revival platform
    END_NEXT_GROUND[_a] = END_NEXT_AIR[_a] = A.ON_HALO_WAIT.value
JUMP_MASK = _action_mask(*JUMP_ACTIONS)
WALK_MASK = _action_mask(*WALK_ACTIONS)
