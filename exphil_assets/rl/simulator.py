"""A Melee-like two-player game on Final Destination, stepped for N games at once with numpy.

`MeleeSim(n_games, config, seed)` holds N independent games. Each `step(p1, p2)`
consumes one frame of controller input per player (`ControllerBatch`, arrays [N])
and advances every game by one frame; `state_columns()` returns the state with the
frame-table column names of ARCHITECTURE.md (`p1_x`, `p2_action_state`, ...), so the
shared feature function reads the simulator exactly as it reads a replay.

What is simulated (numbers in `sim_constants.py`, real Melee ids throughout):
- the entry countdown from frame -123 (ENTRY states, then the players drop in);
- walk, dash, run, turn, crouch, jump squat, full/short hop (held/tapped jump button),
  double jumps, air drift, fast fall, gravity, friction, falling off the edge,
  catching/hanging on the ledge (getup, ledge jump, drop), airdodge (and so wavedash);
- 13 attacks (jab, tilts, dash attack, smashes, five aerials) with startup, active
  frames, endlag, aerial landing lag and L-cancelling;
- hits: damage in percent, Melee's knockback formula (grows with percent, shrinks
  with weight), hitstun = 0.4 x knockback, hitlag, tumble, shield with shield stun,
  shield decay and shield break;
- blast zones, stocks (4), respawn on a revival platform, an 8-minute timer; a game
  ends when a player has no stocks left or the timer runs out.

Alignment with replays: the inputs given to `step` are the pre-frame of the frame
that step produces; `state_columns()` reports them next to the post-frame state
they produced (as a frame-table row does).

Every game is a pure function of its inputs: stepping one game alone or inside a
batch gives bit-identical states (elementwise float32 math, no reductions across
games, no transcendental functions in the step). The seed (one int, or one per game)
only drives the per-frame random-seed values written into replays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from exphil_assets.rl import sim_constants as K
from exphil_assets.rl.controller import ControllerBatch, processed_buttons, processed_trigger
from exphil_assets.rl.seeding import derive_seeds, hash32

A = K.ACT  # action ids as ints
F32 = np.float32

# Per-player fields of `state_columns()`, in frame-table order, with their dtypes
# (replays/frame_schema.py PLAYER_FIELDS; a test checks they agree).
STATE_FIELDS: tuple[tuple[str, str], ...] = (
    ("buttons_physical", "uint16"), ("buttons", "uint32"),
    ("joystick_x", "float32"), ("joystick_y", "float32"), ("cstick_x", "float32"), ("cstick_y", "float32"),
    ("trigger_l", "float32"), ("trigger_r", "float32"), ("trigger", "float32"),
    ("character", "uint8"), ("action_state", "uint16"), ("x", "float32"), ("y", "float32"),
    ("facing", "float32"), ("percent", "float32"), ("shield", "float32"), ("state_age", "float32"),
    ("stocks", "uint8"), ("jumps", "uint8"), ("airborne", "uint8"), ("ground", "uint16"),
    ("hitstun", "float32"), ("hitlag", "float32"),
    ("vel_self_x_air", "float32"), ("vel_self_y", "float32"), ("vel_knockback_x", "float32"),
    ("vel_knockback_y", "float32"), ("vel_self_x_ground", "float32"),
    ("state_flags_1", "uint8"), ("state_flags_2", "uint8"), ("state_flags_3", "uint8"),
    ("state_flags_4", "uint8"), ("state_flags_5", "uint8"),
    ("l_cancel", "uint8"), ("hurtbox_state", "uint8"), ("last_attack_landed", "uint8"),
    ("combo_count", "uint8"), ("last_hit_by", "uint8"),
)  # fmt: skip

_FIELDS_BY_DTYPE: dict[str, list[str]] = {}
for _name, _dtype in STATE_FIELDS:
    _FIELDS_BY_DTYPE.setdefault(_dtype, []).append(_name)
_COLUMN_ORDER = ["frame"] + [f"p{p}_{name}" for p in (1, 2) for name, _ in STATE_FIELDS]

# Game end methods as Slippi's Game End event writes them.
END_NONE, END_TIME, END_GAME = 0, 1, 2

# Rows of the float state block and the int state block.
_F_NAMES = (
    "x", "y", "vxa", "vy", "vxg", "kbx", "kby", "facing", "percent", "shield", "age", "hitstun", "hitlag",
)  # fmt: skip
_I_NAMES = (
    "action", "lock", "attack", "attack_hit", "jumps", "airborne", "stocks", "ground", "ff",
    "invuln", "invuln_kind", "ledge_cd", "lc_t", "lcancel", "last_atk", "combo", "last_hit_by", "special",
)  # fmt: skip
_FI = {n: i for i, n in enumerate(_F_NAMES)}
_II = {n: i for i, n in enumerate(_I_NAMES)}
# Rows of the input block: the pre-frame inputs of the current frame.
_IN_NAMES = ("main_x", "main_y", "c_x", "c_y", "l", "r")


@dataclass(frozen=True)
class SimConfig:
    """Game rules. Defaults are a standard Melee singles game on Final Destination."""

    characters: tuple[str, str] = ("fox", "marth")
    """characters of ports 1 and 2 in every game (names or aliases; see sim_constants.CHARACTERS)"""
    stocks: int = 4
    """stocks each player starts with"""
    timer_frames: int = 8 * 60 * K.FPS
    """gameplay frames (from frame 0) before the game ends on time"""
    countdown_frames: int = K.COUNTDOWN_FRAMES
    """frames before frame 0 (the entry animation); 0 starts both players standing, ready to act"""

    def __post_init__(self) -> None:
        if self.stocks < 1 or self.stocks > 255:
            raise ValueError(f"SimConfig.stocks must be 1-255, got {self.stocks}")
        if self.timer_frames < 1:
            raise ValueError(f"SimConfig.timer_frames must be >= 1, got {self.timer_frames}")
        if not 0 <= self.countdown_frames <= K.COUNTDOWN_FRAMES:
            raise ValueError(
                f"SimConfig.countdown_frames must be 0-{K.COUNTDOWN_FRAMES}, got {self.countdown_frames}"
            )
        for name in self.characters:
            K.character_index(name)


@dataclass
class StepInfo:
    """What happened in each game during one step. Player axis: 0 = port 1, 1 = port 2."""

    stocks_lost: np.ndarray
    """int8 [N, 2]: stocks each player lost this frame (0 or 1)"""
    damage_taken: np.ndarray
    """float32 [N, 2]: percent each player received this frame"""
    hits: np.ndarray
    """bool [N, 2]: the player landed a hit (on body or shield) this frame"""
    done: np.ndarray
    """bool [N]: the game ended this frame"""
    winner: np.ndarray
    """int8 [N]: where done, the winning port (1 or 2) or 0 for a draw; 0 elsewhere"""
    end_method: np.ndarray
    """uint8 [N]: where done, Slippi's end method (1 time, 2 game); 0 elsewhere"""

    @property
    def damage_dealt(self) -> np.ndarray:
        """float32 [N, 2]: percent each player dealt this frame."""
        return self.damage_taken[:, ::-1]


class _CharacterArrays:
    """Per-player character numbers gathered once per reset: arrays [N, 2]."""

    def __init__(self, index: np.ndarray):
        self.index = index
        for field in (
            "weight", "gravity", "max_fall", "fast_fall", "full_hop", "short_hop", "double_jump",
            "walk_max", "dash_initial", "run_max", "friction", "air_max", "air_accel", "air_friction",
            "hurt_height", "hurt_radius",
        ):  # fmt: skip
            setattr(self, field, np.array([getattr(c, field) for c in K.CHARACTERS], F32)[index])
        for field in ("up_b_start_action", "up_b_travel_action", "up_b_startup", "up_b_frames"):
            setattr(self, field, np.array([getattr(c, field) for c in K.CHARACTERS], np.int32)[index])
        self.up_b_speed = np.array([c.up_b_speed for c in K.CHARACTERS], F32)[index]
        self.up_b_free_angle = np.array([c.up_b_free_angle for c in K.CHARACTERS], bool)[index]
        self.has_up_b = self.up_b_frames > 0
        self.jumpsquat = np.array([c.jumpsquat for c in K.CHARACTERS], np.int32)[index]
        self.jumps = np.array([c.jumps for c in K.CHARACTERS], np.int32)[index]
        self.internal_id = np.array([c.internal_id for c in K.CHARACTERS], np.uint8)[index]


def knockback(percent_after, damage, weight, base, growth) -> np.ndarray:
    """Melee's knockback: grows with the target's percent (after the hit) and the damage, shrinks with weight."""
    p = np.asarray(percent_after, F32)
    d = np.asarray(damage, F32)
    scaled = (p / 10 + p * d / 20) * (F32(200.0) / (np.asarray(weight, F32) + 100)) * F32(1.4) + 18
    return (scaled * (np.asarray(growth, F32) / 100) + np.asarray(base, F32)).astype(F32)


def _toward(v: np.ndarray, target, step) -> np.ndarray:
    """Move v toward target by at most step."""
    return v + np.clip(target - v, -step, step)


class MeleeSim:
    """N two-player games stepped together. See the module docstring."""

    def __init__(
        self,
        n_games: int,
        config: SimConfig | None = None,
        seed: int | np.ndarray = 0,
        character_pairs: Sequence[tuple[str, str]] | None = None,
    ):
        """`character_pairs`, if given, sets (port 1, port 2) characters per game (length n_games)."""
        if n_games < 1:
            raise ValueError(f"n_games must be >= 1, got {n_games}")
        self.n = n_games
        self.config = config or SimConfig()
        pairs = character_pairs if character_pairs is not None else [self.config.characters] * n_games
        if len(pairs) != n_games:
            raise ValueError(f"character_pairs has {len(pairs)} entries for {n_games} games")
        index = np.array([[K.character_index(a), K.character_index(b)] for a, b in pairs], np.int32)
        self.chars = _CharacterArrays(index)
        self._seeds = derive_seeds(seed, n_games) if np.ndim(seed) == 0 else np.asarray(seed, np.uint64)
        if self._seeds.shape != (n_games,):
            raise ValueError(f"per-game seeds have shape {self._seeds.shape}, expected ({n_games},)")
        self._resets = np.zeros(n_games, np.uint64)
        self.random_seed = np.zeros(self.n, np.uint32)  # per-frame value for the replay's Frame Start
        self._f = np.zeros((len(_F_NAMES), n_games, 2), F32)
        self._i = np.zeros((len(_I_NAMES), n_games, 2), np.int32)
        self._inp = np.zeros((len(_IN_NAMES), n_games, 2), F32)
        self._buttons = np.zeros((n_games, 2), np.int32)
        self._prev_trigger = np.zeros((n_games, 2), F32)
        self._prev_c_on = np.zeros((n_games, 2), bool)
        self.frame = np.zeros(n_games, np.int32)
        self.done = np.zeros(n_games, bool)
        self.winner = np.zeros(n_games, np.int8)
        self.end_method = np.zeros(n_games, np.uint8)
        self.reset()

    # ------------------------------------------------------------------ reset
    def reset(self, mask: np.ndarray | None = None) -> None:
        """Start new games where `mask` [N] is True (all games when None)."""
        m = np.ones(self.n, bool) if mask is None else np.asarray(mask, bool)
        if m.shape != (self.n,):
            raise ValueError(f"reset mask has shape {m.shape}, expected ({self.n},)")
        cfg, c = self.config, self.chars
        f = np.zeros((len(_F_NAMES), self.n, 2), F32)
        i = np.zeros((len(_I_NAMES), self.n, 2), np.int32)
        f[_FI["x"]] = np.array(K.SPAWN_X, F32)
        f[_FI["facing"]] = np.array([1.0, -1.0], F32)
        f[_FI["shield"]] = K.SHIELD_MAX
        i[_II["stocks"]] = cfg.stocks
        i[_II["attack"]] = K.NO_ATTACK
        i[_II["last_hit_by"]] = K.NO_HITTER
        entry = cfg.countdown_frames - K.ENTRY_START_FRAMES - K.ENTRY_END_FRAMES - K.DROP_IN_FRAMES
        if cfg.countdown_frames > 0:
            f[_FI["y"]] = K.SPAWN_Y
            f[_FI["age"]] = 0
            i[_II["action"]] = A.ENTRY
            i[_II["lock"]] = max(entry, 1)
            i[_II["airborne"]] = 1
            i[_II["jumps"]] = c.jumps - 1
            i[_II["ground"]] = K.NO_GROUND
        else:
            i[_II["action"]] = A.STANDING
            i[_II["jumps"]] = c.jumps
            i[_II["ground"]] = K.GROUND_ID
        self._f[:, m] = f[:, m]
        self._i[:, m] = i[:, m]
        self._inp[:, m] = 0
        self._buttons[m] = 0
        self._prev_trigger[m] = 0
        self._prev_c_on[m] = False
        self.frame[m] = -cfg.countdown_frames - 1  # the first step produces frame -countdown_frames
        self.done[m] = False
        self.winner[m] = 0
        self.end_method[m] = END_NONE
        self.random_seed[m] = hash32(self._seeds, self._resets)[m]
        self._resets[m] += np.uint64(1)

    # ------------------------------------------------------------------ step
    def step(self, p1: ControllerBatch, p2: ControllerBatch) -> StepInfo:
        """Advance every game that is not done by one frame with these inputs; games already over stay frozen.

        Sticks are clipped to [-1, 1] and triggers to [0, 1]; NaN inputs read as 0 (neutral).
        """
        if len(p1) != self.n or len(p2) != self.n:
            raise ValueError(f"inputs have {len(p1)} and {len(p2)} games, the simulator has {self.n}")
        K_ = K
        c = self.chars
        n = self.n
        # ---- inputs: [N, 2] per field; NaN becomes 0, everything is clipped to its range
        inp = np.stack(
            [
                np.stack([p1.main_x, p2.main_x], 1), np.stack([p1.main_y, p2.main_y], 1),
                np.stack([p1.c_x, p2.c_x], 1), np.stack([p1.c_y, p2.c_y], 1),
                np.stack([p1.l, p2.l], 1), np.stack([p1.r, p2.r], 1),
            ]
        ).astype(F32, copy=False)  # fmt: skip
        inp = np.nan_to_num(inp, nan=0.0, posinf=1.0, neginf=-1.0)
        np.clip(inp, -1.0, 1.0, out=inp)
        np.maximum(inp[4:], 0.0, out=inp[4:])
        sx, sy, cx, cy, tl, tr = inp
        b = np.stack([p1.buttons, p2.buttons], 1).astype(np.int32)
        prev_b = self._buttons
        rise = b & ~prev_b
        prev_sx, prev_sy = self._inp[0], self._inp[1]
        jump_btn = (b & (K_.BUTTON_X | K_.BUTTON_Y)) != 0
        jump_press = (rise & (K_.BUTTON_X | K_.BUTTON_Y)) != 0
        a_press = (rise & K_.BUTTON_A) != 0
        b_press = (rise & K_.BUTTON_B) != 0
        trig = np.maximum(tl, tr)
        shield_btn = ((b & (K_.BUTTON_L | K_.BUTTON_R)) != 0) | (trig >= K_.TRIGGER_THRESHOLD)
        shield_press = ((rise & (K_.BUTTON_L | K_.BUTTON_R)) != 0) | (
            (trig >= K_.TRIGGER_THRESHOLD) & (self._prev_trigger < K_.TRIGGER_THRESHOLD)
        )
        lc_press = shield_press | ((rise & K_.BUTTON_Z) != 0)
        acx, acy = np.abs(cx), np.abs(cy)
        c_on = np.maximum(acx, acy) >= K_.CSTICK_THRESHOLD
        c_press = c_on & ~self._prev_c_on
        asx, asy = np.abs(sx), np.abs(sy)

        # ---- state (old blocks are never written in place)
        old_f, old_i = self._f, self._i
        x, y, vxa, vy, vxg, kbx, kby, facing, percent, shield, age, hitstun, hitlag = old_f
        (action, lock, attack, attack_hit, jumps, airborne, stocks, ground, ff,
         invuln, invuln_kind, ledge_cd, lc_t, lcancel, last_atk, combo, last_hit_by, special) = old_i  # fmt: skip
        done_b = self.done[:, None]
        frozen = (hitlag > 0) | done_b
        live = ~frozen

        # ---- timers
        age = age + 1
        lock1 = np.maximum(lock - 1, 0)
        hitstun = np.maximum(hitstun - 1, 0)
        invuln = np.maximum(invuln - 1, 0)
        ledge_cd = np.maximum(ledge_cd - 1, 0)
        lc_t = np.where(lc_press, K_.LCANCEL_WINDOW, np.maximum(lc_t - 1, 0))
        lcancel = np.zeros_like(lcancel)
        side = np.where(x >= 0, F32(1.0), F32(-1.0))

        # ---- locked actions that run out this frame
        ended = lock == 1
        in_air = airborne == 1
        act = np.where(ended, np.where(in_air, K_.END_NEXT_AIR[action], K_.END_NEXT_GROUND[action]), action)
        lock = np.where(ended, K_.END_NEXT_LOCK[action], lock1)
        attack = np.where(ended, K_.NO_ATTACK, attack)
        new = ended
        knee_end = ended & (action == A.KNEE_BEND)
        if knee_end.any():
            back = sx * facing < -K_.WALK_THRESHOLD
            act = np.where(knee_end, np.where(back, A.JUMPING_BACKWARD, A.JUMPING_FORWARD), act)
            vy = np.where(knee_end, np.where(jump_btn, c.full_hop, c.short_hop), vy)
            vxa = np.where(knee_end, vxg * F32(0.8) + sx * c.air_max * F32(0.4), vxa)
            airborne = np.where(knee_end, 1, airborne)
            jumps = jumps - knee_end
        # up-B: the startup ends in a straight flight along the stick, the flight in a helpless fall
        upb_go = ended & (special == 1)
        upb_done = ended & (special == 2)
        if upb_go.any() or upb_done.any():
            norm = np.sqrt(sx * sx + sy * sy)
            aimed = (norm > K_.STICK_DEADZONE) & c.up_b_free_angle
            ux = np.where(
                aimed, sx / np.maximum(norm, F32(1e-6)), np.where(c.up_b_free_angle, F32(0.0), sx * F32(0.3))
            )
            uy = np.where(aimed, sy / np.maximum(norm, F32(1e-6)), F32(1.0))
            act = np.where(upb_go, c.up_b_travel_action, np.where(upb_done, A.SPECIAL_FALL_FORWARD, act))
            lock = np.where(upb_go, c.up_b_frames, np.where(upb_done, 0, lock))
            vxa = np.where(upb_go, ux * c.up_b_speed, np.where(upb_done, vxa * F32(0.5), vxa))
            vy = np.where(upb_go, uy * c.up_b_speed, np.where(upb_done, F32(0.0), vy))
            facing = np.where(upb_go & (np.abs(ux) > 0.1), np.where(ux > 0, F32(1.0), F32(-1.0)), facing)
            special = np.where(upb_go, 2, np.where(upb_done, 0, special))
        getup_end = ended & (action == A.EDGE_GETUP_QUICK)
        respawn = ended & K_.DEAD[action]
        if getup_end.any() or respawn.any():
            x = np.where(getup_end, side * F32(K_.EDGE_X - K_.LEDGE_GETUP_DX), x)
            y = np.where(getup_end, F32(0.0), y)
            airborne = np.where(getup_end, 0, airborne)
            ground = np.where(getup_end, K_.GROUND_ID, ground)
            x = np.where(respawn, np.array(K_.RESPAWN_X, F32), x)
            y = np.where(respawn, F32(K_.RESPAWN_Y), y)
            facing = np.where(respawn, np.array([1.0, -1.0], F32), facing)
            percent = np.where(respawn, F32(0.0), percent)
            airborne = np.where(respawn, 1, airborne)
            jumps = np.where(respawn, c.jumps - 1, jumps)
            vxa = np.where(respawn, F32(0.0), vxa)
            vy = np.where(respawn, F32(0.0), vy)
            invuln = np.where(respawn, K_.HALO_MAX_FRAMES + K_.RESPAWN_INVULNERABLE, invuln)
            invuln_kind = np.where(respawn, K_.HURTBOX_INVULNERABLE, invuln_kind)

        # ---- decisions of players who can act
        can = live & (lock == 0) & K_.ACTIONABLE[act]
        grounded = airborne == 0
        in_shield = act == A.SHIELD
        on_ledge = act == A.EDGE_HANGING
        in_halo = act == A.ON_HALO_WAIT
        g_can = can & grounded & ~in_shield
        sh_can = can & in_shield
        a_can = can & ~grounded & ~on_ledge & ~in_halo
        attack_in = a_press | c_press
        # attack direction: the c-stick when it was just pushed, else the main stick
        dx = np.where(c_press, cx, sx)
        dy = np.where(c_press, cy, sy)
        adx, ady = np.abs(dx), np.abs(dy)
        horiz = adx >= ady

        # ground: jump (also out of shield), shield, attack, move
        g_jump = (g_can | sh_can) & jump_press
        g_shield = g_can & shield_btn & ~g_jump
        sh_release = sh_can & ~shield_btn & ~g_jump
        g_attack = g_can & attack_in & ~g_jump & ~g_shield
        g_move = g_can & ~g_jump & ~g_shield & ~g_attack
        running = (act == A.DASHING) | (act == A.RUNNING)
        smash = c_press | (
            (asx >= K_.DASH_THRESHOLD) & (np.abs(prev_sx) < K_.SMASH_FROM)
            | (asy >= K_.DASH_THRESHOLD) & (np.abs(prev_sy) < K_.SMASH_FROM)
        )
        sideways = horiz & (adx >= K_.WALK_THRESHOLD)
        tilt = np.where(
            sideways, K_.ATTACK_INDEX["ftilt"],
            np.where(dy >= K_.WALK_THRESHOLD, K_.ATTACK_INDEX["utilt"],
                     np.where(dy <= -K_.WALK_THRESHOLD, K_.ATTACK_INDEX["dtilt"], K_.ATTACK_INDEX["jab"])),
        )  # fmt: skip
        smash_atk = np.where(
            horiz,
            K_.ATTACK_INDEX["fsmash"],
            np.where(dy > 0, K_.ATTACK_INDEX["usmash"], K_.ATTACK_INDEX["dsmash"]),
        )
        g_atk = np.where(
            running & a_press & ~c_press, K_.ATTACK_INDEX["dash_attack"], np.where(smash, smash_atk, tilt)
        )
        want = np.where(sx >= 0, F32(1.0), F32(-1.0))
        turn_attack = g_attack & sideways & (g_atk != K_.ATTACK_INDEX["dash_attack"])
        facing = np.where(turn_attack, np.where(dx >= 0, F32(1.0), F32(-1.0)), facing)

        run_zone = asx >= K_.DASH_THRESHOLD
        walk_zone = (asx >= K_.WALK_THRESHOLD) & ~run_zone
        same_dir = want == facing
        new_dash = g_move & run_zone & ~(running & same_dir)
        keep_dash = run_zone & (act == A.DASHING) & same_dir & (age < K_.DASH_FRAMES)
        walk_act = np.where(asx < 0.5, A.WALK_SLOW, np.where(asx < 0.7, A.WALK_MIDDLE, A.WALK_FAST))
        turn = walk_zone & ~same_dir
        move_act = np.where(
            run_zone, np.where(new_dash | keep_dash, A.DASHING, A.RUNNING),
            np.where(turn, A.TURNING,
                     np.where(walk_zone, walk_act,
                              np.where(sy <= K_.CROUCH_THRESHOLD, A.CROUCHING, A.STANDING))),
        )  # fmt: skip
        facing = np.where(g_move & (run_zone | walk_zone), want, facing)

        # air: double jump, airdodge, aerial; jumps turn into falls past the apex
        a_jump = a_can & jump_press & (jumps > 0)
        a_upb = a_can & b_press & (sy >= 0.5) & c.has_up_b & ~a_jump
        a_dodge = a_can & shield_press & ~a_jump & ~a_upb
        a_attack = a_can & attack_in & ~a_jump & ~a_dodge & ~a_upb
        rel = dx * facing
        a_atk = np.where(
            ~horiz & (ady >= K_.WALK_THRESHOLD),
            np.where(dy > 0, K_.ATTACK_INDEX["uair"], K_.ATTACK_INDEX["dair"]),
            np.where(adx >= K_.WALK_THRESHOLD,
                     np.where(rel > 0, K_.ATTACK_INDEX["fair"], K_.ATTACK_INDEX["bair"]), K_.ATTACK_INDEX["nair"]),
        )  # fmt: skip
        a_fall = a_can & ~a_jump & ~a_dodge & ~a_attack & ~a_upb & K_.JUMP_MASK[act] & (vy < 0)

        # ledge: jump, get up, or let go
        l_can = can & on_ledge
        toward = sx * side <= -0.5
        l_jump = l_can & jump_press
        l_getup = l_can & ~l_jump & (toward | (sy >= 0.5) | a_press)
        l_drop = l_can & ~l_jump & ~l_getup & ((sx * side >= 0.5) | (sy <= -0.5) | (age >= K_.LEDGE_MAX_HANG))
        # revival platform: any input (or time) drops the player
        h_leave = (
            can
            & in_halo
            & ~new  # not on the frame the platform appears
            & (age >= K_.HALO_MIN_FRAMES)
            & ((asx >= 0.3) | (asy >= 0.3) | jump_press | a_press | (age >= K_.HALO_MAX_FRAMES))
        )

        # ---- apply the decisions
        start_attack = g_attack | a_attack
        atk_new = np.where(g_attack, g_atk, a_atk)
        act = np.where(start_attack, K_.ATK_ACTION[atk_new], act)
        lock = np.where(start_attack, K_.ATK_TOTAL[atk_new], lock)
        attack = np.where(start_attack, atk_new, attack)
        attack_hit = np.where(start_attack, 0, attack_hit)
        act = np.where(g_jump, A.KNEE_BEND, act)
        lock = np.where(g_jump, c.jumpsquat, lock)
        g_shield_new = g_shield & ~in_shield
        act = np.where(g_shield, A.SHIELD, act)
        act = np.where(sh_release, A.SHIELD_RELEASE, act)
        lock = np.where(sh_release, K_.SHIELD_RELEASE_FRAMES, lock)
        moved = g_move & ((move_act != act) | new_dash)
        act = np.where(g_move, move_act, act)
        a_back = sx * facing < -K_.WALK_THRESHOLD
        act = np.where(a_jump, np.where(a_back, A.JUMPING_ARIAL_BACKWARD, A.JUMPING_ARIAL_FORWARD), act)
        vy = np.where(a_jump, c.double_jump, vy)
        vxa = np.where(a_jump, sx * c.air_max, vxa)
        jumps = jumps - a_jump
        ff = np.where(a_jump | a_dodge, 0, ff)
        act = np.where(a_fall, A.FALLING, act)
        # airdodge: a burst of speed along the stick, decaying; intangible for a while
        dodge_norm = np.sqrt(sx * sx + sy * sy)
        dodge_scale = np.where(
            dodge_norm > K_.STICK_DEADZONE,
            F32(K_.AIRDODGE_SPEED) / np.maximum(dodge_norm, F32(1e-6)),
            F32(0.0),
        )
        act = np.where(a_dodge, A.AIRDODGE, act)
        lock = np.where(a_dodge, K_.AIRDODGE_FRAMES, lock)
        vxa = np.where(a_dodge, sx * dodge_scale, vxa)
        vy = np.where(a_dodge, sy * dodge_scale, vy)
        act = np.where(a_upb, c.up_b_start_action, act)
        lock = np.where(a_upb, c.up_b_startup, lock)
        special = np.where(a_upb, 1, special)
        vy = np.where(a_upb, F32(0.0), vy)
        ff = np.where(a_upb, 0, ff)
        # ledge options
        act = np.where(l_jump, A.EDGE_JUMP_1_QUICK, act)
        lock = np.where(l_jump, K_.LEDGE_JUMP_FRAMES, lock)
        vy = np.where(l_jump, c.double_jump, vy)
        vxa = np.where(l_jump, -side, vxa)
        act = np.where(l_getup, A.EDGE_GETUP_QUICK, act)
        lock = np.where(l_getup, K_.LEDGE_GETUP_FRAMES, lock)
        act = np.where(l_drop | h_leave, A.FALLING, act)
        ledge_cd = np.where(l_drop, K_.LEDGE_REGRAB_COOLDOWN, ledge_cd)
        vy = np.where(l_drop | h_leave, F32(0.0), vy)
        invuln = np.where(h_leave, K_.RESPAWN_INVULNERABLE, invuln)
        new = (
            new | start_attack | g_jump | g_shield_new | sh_release | moved | a_jump | a_fall | a_dodge
            | l_jump | l_getup | l_drop | h_leave | a_upb
        )  # fmt: skip

        # ---- physics
        static = K_.STATIC[act] | frozen
        air = (airborne == 1) & ~static
        gnd = (airborne == 0) & ~static
        stunned = hitstun > 0
        # ground speed: dash burst, run and walk toward a target, friction otherwise
        is_run = (act == A.RUNNING) | (act == A.DASHING)
        is_walk = K_.WALK_MASK[act]
        target = np.where(is_run, facing * c.run_max, np.where(is_walk, sx * c.walk_max, F32(0.0)))
        accel = np.where(is_run | is_walk, F32(0.12), c.friction)
        vxg = np.where(new_dash, facing * c.dash_initial, np.where(gnd, _toward(vxg, target, accel), vxg))
        # air speed: drift toward the stick, air friction without it or in hitstun
        in_dodge = act == A.AIRDODGE
        drift = (asx >= K_.WALK_THRESHOLD) & ~stunned
        vxa_air = np.where(
            drift, _toward(vxa, sx * c.air_max, c.air_accel), _toward(vxa, F32(0.0), c.air_friction)
        )
        ff_start = (
            air
            & ~stunned
            & ~in_dodge
            & (special == 0)
            & (vy < 0)
            & (sy <= K_.FAST_FALL_THRESHOLD)
            & (prev_sy > K_.FAST_FALL_THRESHOLD)
            & ~K_.DAMAGED[act]
        )
        ff = np.where(air & (ff_start | (ff == 1)), 1, 0)
        vy_air = np.where(ff == 1, -c.fast_fall, np.maximum(vy - c.gravity, -c.max_fall))
        vxa_air = np.where(in_dodge, vxa * F32(K_.AIRDODGE_DECAY), vxa_air)
        vy_air = np.where(in_dodge, vy * F32(K_.AIRDODGE_DECAY), vy_air)
        hover = special == 1
        vxa_air = np.where(hover, vxa * F32(0.9), np.where(special == 2, vxa, vxa_air))
        vy_air = np.where(hover, np.maximum(vy - F32(0.05), F32(-0.5)), np.where(special == 2, vy, vy_air))
        vxa = np.where(air, vxa_air, vxa)
        vy = np.where(air, vy_air, vy)
        x_old, y_old = x, y
        x = np.where(gnd, x + vxg + kbx, np.where(air, x + vxa + kbx, x))
        y = np.where(air, y + vy + kby, y)
        # knockback decays by a fixed amount per frame along its direction
        kb_mag = np.sqrt(kbx * kbx + kby * kby)
        kb_scale = np.where(
            static, F32(1.0), np.maximum(kb_mag - F32(K_.KNOCKBACK_DECAY), 0) / np.maximum(kb_mag, F32(1e-6))
        )
        kbx = kbx * kb_scale
        kby = np.where(gnd, F32(0.0), kby * kb_scale)

        # off the edge: grounded players past it start falling
        off = gnd & (np.abs(x) > K_.EDGE_X)
        if off.any():
            airborne = np.where(off, 1, airborne)
            vxa = np.where(off, vxg, vxa)
            vy = np.where(off, F32(0.0), vy)
            jumps = np.where(off, np.minimum(jumps, c.jumps - 1), jumps)
            to_fall = off & K_.GROUND_IDLE[act]
            act = np.where(to_fall, A.FALLING, act)
            lock = np.where(to_fall, 0, lock)
            new = new | to_fall

        # landing on the stage, or bumping into its sides and bottom
        land = air & (y_old >= 0) & (y <= 0) & (np.abs(x) <= K_.EDGE_X)
        if land.any():
            atk0 = np.maximum(attack, 0)
            aerial = (attack >= 0) & (K_.ATK_LANDING_LAG[atk0] > 0) & (act == K_.ATK_ACTION[atk0])
            lc_ok = lc_t > 0
            aerial_lag = np.where(lc_ok, K_.ATK_LANDING_LAG[atk0] // 2, K_.ATK_LANDING_LAG[atk0])
            tumble = K_.TUMBLE[act]
            hurt = K_.DAMAGED[act] & ~tumble
            helpless = K_.HELPLESS[act] | in_dodge | (special > 0)
            land_act = np.where(
                aerial, K_.ATK_LANDING_ACTION[atk0],
                np.where(tumble, A.TECH_MISS_DOWN,
                         np.where(hurt, act, np.where(helpless, A.LANDING_SPECIAL, A.LANDING))),
            )  # fmt: skip
            land_lock = np.where(
                aerial, aerial_lag,
                np.where(tumble, K_.TECH_MISS_FRAMES,
                         np.where(hurt, lock, np.where(helpless, K_.SPECIAL_LANDING_LAG, K_.LANDING_LAG))),
            )  # fmt: skip
            lcancel = np.where(land & aerial, np.where(lc_ok, 1, 2), lcancel)
            act = np.where(land, land_act, act)
            lock = np.where(land, land_lock, lock)
            new = new | (land & ~hurt)
            hitstun = np.where(land & tumble, F32(0.0), hitstun)
            attack = np.where(land & ~hurt, K_.NO_ATTACK, attack)
            y = np.where(land, F32(0.0), y)
            airborne = np.where(land, 0, airborne)
            ground = np.where(land, K_.GROUND_ID, ground)
            special = np.where(land, 0, special)
            jumps = np.where(land, c.jumps, jumps)
            ff = np.where(land, 0, ff)
            vxg = np.where(land, vxa, vxg)
            vy = np.where(land, F32(0.0), vy)
            kby = np.where(land, F32(0.0), kby)
        inside = air & ~land & (np.abs(x) < K_.EDGE_X) & (y < 0) & (y > -K_.STAGE_DEPTH)
        if inside.any():
            from_side = inside & (np.abs(x_old) >= K_.EDGE_X)
            from_below = inside & ~from_side
            x = np.where(from_side, np.where(x_old >= 0, F32(K_.EDGE_X), F32(-K_.EDGE_X)), x)
            vxa = np.where(from_side, F32(0.0), vxa)
            kbx = np.where(from_side, F32(0.0), kbx)
            y = np.where(from_below, F32(-K_.STAGE_DEPTH), y)
            vy = np.where(from_below, np.minimum(vy, 0), vy)
            kby = np.where(from_below, np.minimum(kby, 0), kby)

        # ledge catch: falling near a ledge, not attacking and out of hitstun
        ax_edge = np.abs(x) - F32(K_.EDGE_X)
        grab = (
            air & ~land & (ledge_cd == 0) & (vy + kby <= 0) & ~stunned & (attack < 0) & ~K_.DAMAGED[act] & (special != 1)
            & (ax_edge >= K_.LEDGE_GRAB_X[0]) & (ax_edge <= K_.LEDGE_GRAB_X[1])
            & (y >= K_.LEDGE_GRAB_Y[0]) & (y <= K_.LEDGE_GRAB_Y[1])
        )  # fmt: skip
        if grab.any():
            gside = np.where(x >= 0, F32(1.0), F32(-1.0))
            act = np.where(grab, A.EDGE_CATCHING, act)
            lock = np.where(grab, K_.LEDGE_CATCH_FRAMES, lock)
            new = new | grab
            x = np.where(grab, gside * F32(K_.EDGE_X + K_.LEDGE_HANG_DX), x)
            y = np.where(grab, F32(K_.LEDGE_HANG_Y), y)
            facing = np.where(grab, -gside, facing)
            vxa = np.where(grab, F32(0.0), vxa)
            vy = np.where(grab, F32(0.0), vy)
            kbx = np.where(grab, F32(0.0), kbx)
            kby = np.where(grab, F32(0.0), kby)
            jumps = np.where(grab, c.jumps - 1, jumps)
            ff = np.where(grab, 0, ff)
            special = np.where(grab, 0, special)
            invuln = np.where(grab, K_.LEDGE_INTANGIBLE, invuln)
            invuln_kind = np.where(grab, K_.HURTBOX_INTANGIBLE, invuln_kind)

        age = np.where(new, F32(0.0), age)

        # ---- hits: each active hitbox against the other player's hurtbox (a vertical capsule)
        ci = c.index
        atk0 = np.maximum(attack, 0)
        dead = K_.DEAD[act]
        active = (
            live & (attack >= 0) & (attack_hit == 0) & ~dead
            & (age >= K_.ATK_START[atk0]) & (age <= K_.ATK_END[atk0])
        )  # fmt: skip
        stocks_lost = np.zeros((n, 2), np.int8)
        damage_taken = np.zeros((n, 2), F32)
        hits = np.zeros((n, 2), bool)
        if active.any():
            dodging = (
                (act == A.AIRDODGE)
                & (age >= K_.AIRDODGE_INTANGIBLE[0] - 1)
                & (age <= K_.AIRDODGE_INTANGIBLE[1] - 1)
            )
            vulnerable = live & (invuln == 0) & ~dodging & (~K_.STATIC[act] | K_.ON_LEDGE[act])
            hx = x + facing * K_.ATK_HIT_X[ci, atk0]
            hy = y + K_.ATK_HIT_Y[ci, atk0]
            ox, oy = x[:, ::-1], y[:, ::-1]
            near_y = np.minimum(np.maximum(hy, oy), oy + c.hurt_height[:, ::-1])
            reach = K_.ATK_RADIUS[ci, atk0] + c.hurt_radius[:, ::-1]
            hits = active & vulnerable[:, ::-1] & ((hx - ox) ** 2 + (hy - near_y) ** 2 <= reach * reach)
        if hits.any():
            got = hits[:, ::-1]  # player i was hit by the other player
            dmg = K_.ATK_DAMAGE[ci, atk0][:, ::-1]
            shielded = got & K_.SHIELDING[act] & (shield > 0)
            body = got & ~shielded
            awayx = np.where(x > ox, F32(1.0), np.where(x < ox, F32(-1.0), facing[:, ::-1]))
            pct = percent + dmg
            kb = knockback(pct, dmg, c.weight, K_.ATK_BASE_KB[atk0][:, ::-1], K_.ATK_KB_GROWTH[atk0][:, ::-1])
            launch = kb * F32(K_.LAUNCH_SPEED_PER_KB)
            sin_a = K_.ATK_SIN[atk0][:, ::-1]
            new_kbx = K_.ATK_COS[atk0][:, ::-1] * launch * awayx
            new_kby = sin_a * launch
            fly = kb >= K_.TUMBLE_KB
            on_ground = airborne == 0
            new_kby = np.where(
                on_ground & (new_kby < 0), np.where(fly, -new_kby * F32(0.8), F32(0.0)), new_kby
            )
            launched = ~on_ground | (new_kby > 0)
            stun = np.floor(kb * F32(K_.HITSTUN_PER_KB))
            fly_act = np.where(
                sin_a > 0.87,
                A.DAMAGE_FLY_HIGH,
                np.where(sin_a > 0.34, A.DAMAGE_FLY_NEUTRAL, A.DAMAGE_FLY_LOW),
            )
            hurt_act = np.where(
                launched, A.DAMAGE_AIR_1,
                np.where(sin_a > 0.87, A.DAMAGE_HIGH_1, np.where(sin_a > 0.34, A.DAMAGE_NEUTRAL_1, A.DAMAGE_LOW_1)),
            )  # fmt: skip
            was_stunned = stunned | K_.DAMAGED[act]
            act = np.where(body, np.where(fly, fly_act, hurt_act), act)
            lock = np.where(body, np.maximum(stun, 1).astype(np.int32), lock)
            hitstun = np.where(body, stun, hitstun)
            percent = np.where(body, pct, percent)
            kbx = np.where(body, new_kbx, kbx)
            kby = np.where(body, new_kby, kby)
            vxa = np.where(body, F32(0.0), vxa)
            vxg = np.where(body, F32(0.0), vxg)
            vy = np.where(body, F32(0.0), vy)
            airborne = np.where(body & launched, 1, airborne)
            ff = np.where(body, 0, ff)
            special = np.where(body, 0, special)
            attack = np.where(body, K_.NO_ATTACK, attack)
            last_hit_by = np.where(got, np.array([1, 0], np.int32), last_hit_by)
            damage_taken = np.where(body, dmg, F32(0.0))
            # shield: shield damage, shield stun and a little pushback
            shield = np.where(shielded, shield - dmg, shield)
            act = np.where(shielded, A.SHIELD_STUN, act)
            lock = np.where(shielded, np.floor((dmg + F32(4.45)) / F32(2.235)).astype(np.int32), lock)
            vxg = np.where(shielded, awayx * np.minimum(dmg * F32(0.1), F32(1.5)), vxg)
            # attacker bookkeeping
            attack_hit = np.where(hits, 1, attack_hit)
            last_atk = np.where(hits & body[:, ::-1], K_.ATK_ID[atk0], last_atk)
            combo = np.where(hits & body[:, ::-1], np.where(was_stunned[:, ::-1], combo + 1, 1), combo)
            # hitlag freezes both players for a few frames
            own_dmg = K_.ATK_DAMAGE[ci, atk0]
            hitlag = np.where(got, np.floor(dmg / 3 + 3), hitlag)
            hitlag = np.where(hits, np.floor(own_dmg / 3 + 3), hitlag)
            new = new | got
            age = np.where(got, F32(0.0), age)

        # ---- shield health: drains while held, regenerates otherwise, breaks at 0
        holding = act == A.SHIELD
        shield = np.where(
            holding,
            shield - F32(K_.SHIELD_DECAY),
            np.minimum(shield + F32(K_.SHIELD_REGEN), F32(K_.SHIELD_MAX)),
        )
        broken = K_.SHIELDING[act] & (shield <= 0)
        if broken.any():
            act = np.where(broken, A.SHIELD_BREAK_STAND_U, act)
            lock = np.where(broken, K_.SHIELD_BREAK_FRAMES, lock)
            shield = np.where(broken, F32(K_.SHIELD_BREAK_RESET), shield)
            age = np.where(broken, F32(0.0), age)

        # ---- blast zones: a KO costs a stock; the player respawns after DEAD_FRAMES
        out = (
            live
            & ~K_.DEAD[act]
            & ((x < -K_.BLAST_X) | (x > K_.BLAST_X) | (y > K_.BLAST_TOP) | (y < K_.BLAST_BOTTOM))
        )
        if out.any():
            dead_act = np.where(
                x < -K_.BLAST_X, A.DEAD_LEFT,
                np.where(x > K_.BLAST_X, A.DEAD_RIGHT, np.where(y > K_.BLAST_TOP, A.DEAD_FLY_STAR, A.DEAD_DOWN)),
            )  # fmt: skip
            stocks = stocks - out
            stocks_lost = out.astype(np.int8)
            act = np.where(out, dead_act, act)
            lock = np.where(out, K_.DEAD_FRAMES, lock)
            age = np.where(out, F32(0.0), age)
            attack = np.where(out, K_.NO_ATTACK, attack)
            hitstun = np.where(out, F32(0.0), hitstun)
            ff = np.where(out, 0, ff)
            special = np.where(out, 0, special)
            zero = F32(0.0)
            vxa, vy, vxg = np.where(out, zero, vxa), np.where(out, zero, vy), np.where(out, zero, vxg)
            kbx, kby = np.where(out, zero, kbx), np.where(out, zero, kby)
            combo = np.where(out[:, ::-1], 0, combo)

        # ---- write the new state back (frozen players keep theirs; hitlag counts down)
        new_f = np.stack(
            [x, y, vxa, vy, vxg, kbx, kby, facing, percent, shield, age, hitstun, hitlag]
        ).astype(F32)
        new_i = np.stack([
            act, lock, attack, attack_hit, jumps, airborne, stocks, ground, ff,
            invuln, invuln_kind, ledge_cd, lc_t, lcancel, last_atk, combo, last_hit_by, special,
        ]).astype(np.int32, copy=False)  # fmt: skip
        np.copyto(new_f, old_f, where=frozen)
        np.copyto(new_i, old_i, where=frozen)
        old_lag = old_f[_FI["hitlag"]]
        new_f[_FI["hitlag"]] = np.where((old_lag > 0) & ~done_b, old_lag - 1, new_f[_FI["hitlag"]])
        self._f, self._i = new_f, new_i

        # ---- inputs become this frame's pre-frame (not for games already over)
        running_game = ~self.done
        self._inp = np.where(running_game[None, :, None], inp, self._inp)
        self._buttons = np.where(running_game[:, None], b, prev_b)
        self._prev_trigger = np.where(running_game[:, None], trig, self._prev_trigger)
        self._prev_c_on = np.where(running_game[:, None], c_on, self._prev_c_on)
        self.frame = self.frame + running_game
        self.random_seed = np.where(
            running_game, self.random_seed * np.uint32(1664525) + np.uint32(1013904223), self.random_seed
        )

        # ---- game over: a player out of stocks, or the timer
        st = new_i[_II["stocks"]]
        no_stocks = (st == 0).any(axis=1)
        time_up = self.frame >= self.config.timer_frames - 1
        ended_now = running_game & (no_stocks | time_up)
        winner = np.zeros(n, np.int8)
        method = np.zeros(n, np.uint8)
        if ended_now.any():
            pc = new_f[_FI["percent"]]
            win = np.where(
                st[:, 0] != st[:, 1], np.where(st[:, 0] > st[:, 1], 1, 2),
                np.where(pc[:, 0] < pc[:, 1], 1, np.where(pc[:, 0] > pc[:, 1], 2, 0)),
            ).astype(np.int8)  # fmt: skip
            winner = np.where(ended_now, win, 0).astype(np.int8)
            method = np.where(ended_now, np.where(no_stocks, END_GAME, END_TIME), END_NONE).astype(np.uint8)
            self.done = self.done | ended_now
            self.winner = np.where(ended_now, winner, self.winner)
            self.end_method = np.where(ended_now, method, self.end_method)
        return StepInfo(stocks_lost, damage_taken, hits, ended_now, winner, method)

    # ------------------------------------------------------------------ views
    def state_columns(self) -> dict[str, np.ndarray]:
        """The current frame of every game as frame-table columns: `frame` and `p1_*`/`p2_*` arrays [N].

        Pre-frame columns hold the inputs of the last `step` (the ones that produced this
        state); post-frame columns hold the state. Arrays are fresh copies.
        """
        f, i, inp = self._f, self._i, self._inp
        g = _FI
        flags2 = (
            np.where(i[_II["ff"]] == 1, K.FLAG2_FASTFALL, 0)
            | np.where(f[g["hitlag"]] > 0, K.FLAG2_HITLAG, 0)
            | np.where(K.SHIELDING[i[_II["action"]]], K.FLAG2_SHIELDING, 0)
        )
        flags3 = np.where(f[g["hitstun"]] > 0, K.FLAG3_HITSTUN, 0)
        flags4 = np.where(K.DEAD[i[_II["action"]]], K.FLAG4_DEAD, 0)
        hurtbox = np.where(i[_II["invuln"]] > 0, i[_II["invuln_kind"]], K.HURTBOX_VULNERABLE)
        b = self._buttons
        sx, sy, cx, cy, tl, tr = inp
        zeros = np.zeros((self.n, 2), np.uint8)
        per_player: dict[str, np.ndarray] = {
            "buttons_physical": b,
            "buttons": processed_buttons(b, sx, sy, cx, cy, tl, tr),
            "joystick_x": sx, "joystick_y": sy, "cstick_x": cx, "cstick_y": cy,
            "trigger_l": tl, "trigger_r": tr, "trigger": processed_trigger(b, tl, tr),
            "character": self.chars.internal_id, "action_state": i[_II["action"]],
            "x": f[g["x"]], "y": f[g["y"]], "facing": f[g["facing"]], "percent": f[g["percent"]],
            "shield": f[g["shield"]], "state_age": f[g["age"]], "stocks": i[_II["stocks"]],
            "jumps": i[_II["jumps"]], "airborne": i[_II["airborne"]], "ground": i[_II["ground"]],
            "hitstun": f[g["hitstun"]], "hitlag": f[g["hitlag"]],
            "vel_self_x_air": f[g["vxa"]], "vel_self_y": f[g["vy"]], "vel_knockback_x": f[g["kbx"]],
            "vel_knockback_y": f[g["kby"]], "vel_self_x_ground": f[g["vxg"]],
            "state_flags_1": zeros, "state_flags_2": flags2, "state_flags_3": flags3,
            "state_flags_4": flags4, "state_flags_5": zeros,
            "l_cancel": i[_II["lcancel"]], "hurtbox_state": hurtbox,
            "last_attack_landed": i[_II["last_atk"]], "combo_count": i[_II["combo"]],
            "last_hit_by": i[_II["last_hit_by"]],
        }  # fmt: skip
        # one stacked copy per dtype, laid out [field, player, game] so every column is a contiguous row
        out: dict[str, np.ndarray] = {"frame": self.frame.astype(np.int32)}
        for dtype, names in _FIELDS_BY_DTYPE.items():
            block = np.stack([per_player[name] for name in names]).astype(dtype).transpose(0, 2, 1).copy()
            for row, name in enumerate(names):
                out[f"p1_{name}"] = block[row, 0]
                out[f"p2_{name}"] = block[row, 1]
        return {k: out[k] for k in _COLUMN_ORDER}

    @property
    def stocks(self) -> np.ndarray:
        """int32 [N, 2]: stocks left."""
        return self._i[_II["stocks"]].copy()

    @property
    def percent(self) -> np.ndarray:
        """float32 [N, 2]: damage in percent."""
        return self._f[_FI["percent"]].copy()
