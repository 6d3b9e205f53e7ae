"""Scripted opponents for the simulator: `random`, `approach` and `defensive`.

A bot plays one port in N games at once: `bot.act(state, player)` reads the
simulator's `state_columns()` (frame-table names, arrays [N]) and returns that
player's `ControllerBatch` for the next frame. Every decision is vectorised over
the games; a bot is deterministic for its seed. Each game has its own random stream
(`rl.seeding`), so a game plays the same whether it runs alone or in a batch.

`skill` in [0, 1] (a float, or an array [N] for one skill per game) sets:
- reaction delay: the bot sees its opponent `round(12 * (1 - skill)) + 2` frames late;
- how often it takes the good option (shield a nearby attack, L-cancel, recover
  with its double jump) instead of a random one;
- how often it makes a random mistake (a random stick and button for a few frames).

Inputs look like a person's: sticks snapped to Melee's 1/80 steps with its deadzone,
buttons pressed for a frame and released (so the next press registers), held jump
for full hops and tapped jump for short hops.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from exphil_assets.rl import sim_constants as K
from exphil_assets.rl.controller import ControllerBatch, quantize_stick
from exphil_assets.rl.seeding import derive_seeds, uniform

F32 = np.float32
MAX_DELAY = 14

# Action ids the bots react to.
_ATTACK_ACTIONS = np.zeros(K.ACTION_TABLE_SIZE, bool)
_ATTACK_ACTIONS[K.ATK_ACTION] = True
_ENDLAG_ACTIONS = np.zeros(K.ACTION_TABLE_SIZE, bool)
_ENDLAG_ACTIONS[K.ATK_LANDING_ACTION[K.ATK_LANDING_ACTION > 0]] = True
for _a in ("LANDING", "LANDING_SPECIAL", "SHIELD_RELEASE", "TECH_MISS_DOWN", "SHIELD_BREAK_STAND_U"):
    _ENDLAG_ACTIONS[getattr(K.ACT, _a)] = True
_LAST_ACTIVE = np.zeros(K.ACTION_TABLE_SIZE, np.float32)  # last active age of each attack action
_LAST_ACTIVE[K.ATK_ACTION] = K.ATK_END
_ON_LEDGE = K.ON_LEDGE

# What a bot reads of each player.
_FIELDS = (
    "x",
    "y",
    "action_state",
    "airborne",
    "facing",
    "jumps",
    "percent",
    "hitstun",
    "state_age",
    "vel_self_y",
)


class ScriptedBot:
    """Common machinery: delayed view of the opponent, recovery, mistakes, button edges."""

    name = "scripted"

    def __init__(self, n_games: int, skill: float | np.ndarray = 0.5, seed: int | np.ndarray = 0):
        """`seed`: one int for all games, or per-game uint64 seeds [N] (see `rl.seeding`)."""
        self.n = n_games
        self.skill = np.broadcast_to(np.clip(np.asarray(skill, F32), 0.0, 1.0), (n_games,)).copy()
        self.seeds = derive_seeds(seed, n_games) if np.ndim(seed) == 0 else np.asarray(seed, np.uint64)
        if self.seeds.shape != (n_games,):
            raise ValueError(f"per-game seeds have shape {self.seeds.shape}, expected ({n_games},)")
        self.delay = (np.round(12 * (1 - self.skill)) + 2).astype(np.int64)
        self._history: dict[str, np.ndarray] = {}
        self._t = 0
        self._last_buttons = np.zeros(n_games, np.uint16)
        self._mistake_left = np.zeros(n_games, np.int32)
        self._mistake = ControllerBatch.neutral(n_games)
        self._hold_jump = np.zeros(n_games, np.int32)  # frames left to keep holding jump (full hop)
        self._fresh = np.ones(n_games, bool)  # games whose history starts at the next observation

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Forget the past of the games in `mask` (all games when None)."""
        m = np.ones(self.n, bool) if mask is None else np.asarray(mask, bool)
        self._fresh |= m
        self._last_buttons[m] = 0
        self._mistake_left[m] = 0
        self._hold_jump[m] = 0

    # ---- observation
    def _observe(self, state: Mapping[str, np.ndarray], player: int) -> tuple[dict, dict]:
        """(me now, opponent as seen `delay` frames ago), each a dict of arrays [N]."""
        opp = 3 - player
        slot = self._t % (MAX_DELAY + 1)
        for f in _FIELDS:
            col = np.asarray(state[f"p{opp}_{f}"], F32)
            if f not in self._history:
                self._history[f] = np.zeros((MAX_DELAY + 1, self.n), F32)
            hist = self._history[f]
            hist[:, self._fresh] = col[self._fresh]
            hist[slot] = col
        seen = (self._t - np.minimum(self.delay, self._t)) % (MAX_DELAY + 1)
        cols = np.arange(self.n)
        them = {f: self._history[f][seen, cols] for f in _FIELDS}
        me = {f: np.asarray(state[f"p{player}_{f}"], F32) for f in _FIELDS}
        self._t += 1
        self._fresh[:] = False
        return me, them

    # ---- the bot's plan for this frame, overridden by subclasses
    def _plan(self, me: dict, them: dict, u: np.ndarray) -> tuple[np.ndarray, ...]:
        """Return (stick x, stick y, c x, c y, trigger, buttons) arrays [N]; `u` is uniform noise [N, 8]."""
        raise NotImplementedError

    def act(self, state: Mapping[str, np.ndarray], player: int) -> ControllerBatch:
        """Inputs of `player` (1 or 2) in every game for the next frame."""
        draws = uniform(self.seeds, self._t, 14)  # before _observe advances the step counter
        me, them = self._observe(state, player)
        u, mistake_u = draws[:, :8], draws[:, 8:]
        sx, sy, cx, cy, trig, buttons = self._plan(me, them, u)
        # stay on the stage: do not run off an edge on the ground (mistakes and random bots still can)
        grounded = me["airborne"] == 0
        edge_run = (
            grounded & (np.abs(me["x"]) > K.EDGE_X - 12) & (sx * np.sign(me["x"]) > 0) & (u[:, 7] < 0.97)
        )
        sx = np.where(edge_run & ~isinstance(self, RandomBot), F32(0.0), sx)
        sx, sy, buttons = self._recover(me, u, sx, sy, buttons)
        trig = np.where(grounded, trig, F32(0.0))  # shields are for the ground (in the air it would airdodge)
        self._hold_jump = np.maximum(self._hold_jump - 1, 0)
        # mistakes: with probability (1 - skill) * 2% per frame, a few frames of random input
        start = (self._mistake_left == 0) & (mistake_u[:, 0] < (1 - self.skill) * 0.02)
        if start.any():
            rand = random_controller(mistake_u[:, 1:])
            self._mistake = _where_controller(start, rand, self._mistake)
            self._mistake_left = np.where(
                start, 3 + (mistake_u[:, 5] * 10).astype(np.int32), self._mistake_left
            )
        erring = self._mistake_left > 0
        self._mistake_left = np.maximum(self._mistake_left - 1, 0)
        out = ControllerBatch(
            buttons.astype(np.uint16), quantize_stick(sx), quantize_stick(sy), quantize_stick(cx), quantize_stick(cy),
            np.clip(trig, 0, 1).astype(F32), np.zeros(self.n, F32),
        )  # fmt: skip
        out = _where_controller(erring, self._mistake, out)
        # a button held since last frame would not register again: release it for a frame
        out.buttons = np.where(
            (out.buttons & self._last_buttons & PRESS_BUTTONS) != 0, out.buttons & ~PRESS_BUTTONS, out.buttons
        ).astype(np.uint16)
        out.buttons = out.buttons | np.where(self._hold_jump > 0, np.uint16(K.BUTTON_X), np.uint16(0))
        self._last_buttons = out.buttons
        return out

    # ---- shared behaviour
    def _recover(self, me: dict, u: np.ndarray, sx, sy, buttons):
        """Offstage: drift back, double jump when low, get up from the ledge."""
        x, y = me["x"], me["y"]
        home = -np.sign(x)
        offstage = (np.abs(x) > K.EDGE_X + 2) | ((y < -4) & (me["airborne"] > 0))
        action = me["action_state"].astype(np.int64)
        on_ledge = action == K.ACT.EDGE_HANGING
        helpless = K.DAMAGED[action] | (me["hitstun"] > 0)
        sane = u[:, 7] < 0.6 + 0.4 * self.skill
        recovering = offstage & ~on_ledge & sane
        sx = np.where(recovering, home, sx)
        sy = np.where(recovering, F32(0.0), sy)
        need_jump = recovering & ~helpless & (me["jumps"] > 0) & (me["vel_self_y"] < 0) & (y < -15)
        buttons = np.where(recovering, np.where(need_jump, K.BUTTON_X, 0), buttons)
        # up-B once the double jump is gone (or from far away): B + up, then aim at the ledge
        far = np.abs(x) > K.EDGE_X + 70
        free = K.ACTIONABLE[action] & (me["airborne"] > 0)  # up-B only starts from a free air state
        up_b = recovering & free & ~helpless & ~need_jump & ((me["jumps"] == 0) & (y < -5) | far & (y < 20))
        buttons = np.where(up_b, K.BUTTON_B, buttons)
        sy = np.where(up_b, F32(1.0), sy)
        sx = np.where(up_b, home * F32(0.5), sx)
        starting = (action == K.ACT.FIREFOX_WAIT_AIR) & offstage
        aim_x = np.sign(x) * F32(K.EDGE_X + 4) - x
        aim_y = F32(-6.0) - y
        aim_n = np.maximum(np.sqrt(aim_x * aim_x + aim_y * aim_y), F32(1e-3))
        sx = np.where(starting, aim_x / aim_n, sx)
        sy = np.where(starting, aim_y / aim_n, sy)
        # on the ledge: wait a moment, then get up (or ledge jump now and then)
        ready = on_ledge & (me["state_age"] > 6 + 20 * (1 - self.skill))
        ledge_jump = ready & (u[:, 6] < 0.3)
        sx = np.where(ready & ~ledge_jump, home, np.where(on_ledge, F32(0.0), sx))
        sy = np.where(on_ledge, F32(0.0), sy)
        buttons = np.where(on_ledge, np.where(ledge_jump, K.BUTTON_X, 0), buttons)
        return sx, sy, buttons


# Buttons that act on a press (must be released in between).
PRESS_BUTTONS = np.uint16(
    K.BUTTON_A | K.BUTTON_B | K.BUTTON_X | K.BUTTON_Y | K.BUTTON_Z | K.BUTTON_L | K.BUTTON_R
)


def _where_controller(mask: np.ndarray, a: ControllerBatch, b: ControllerBatch) -> ControllerBatch:
    return ControllerBatch(
        *(
            np.where(mask, getattr(a, f), getattr(b, f))
            for f in ("buttons", "main_x", "main_y", "c_x", "c_y", "l", "r")
        )
    )


_RANDOM_BUTTONS = np.array([0, 0, 0, K.BUTTON_A, K.BUTTON_A, K.BUTTON_B, K.BUTTON_X, K.BUTTON_Y, K.BUTTON_Z,
                            K.BUTTON_L, K.BUTTON_R, K.BUTTON_DPAD_UP],
                           np.uint16)  # fmt: skip
_STICK_VALUES = np.array([-1.0, -0.7, -0.4, 0.0, 0.0, 0.0, 0.4, 0.7, 1.0], F32)


def random_controller(u: np.ndarray) -> ControllerBatch:
    """Random human-like inputs from uniform noise `u` [N, >=4]: mostly cardinal and neutral sticks."""
    n = u.shape[0]
    sx = _STICK_VALUES[(u[:, 0] * len(_STICK_VALUES)).astype(np.int64) % len(_STICK_VALUES)]
    sy = _STICK_VALUES[(u[:, 1] * len(_STICK_VALUES) * 7).astype(np.int64) % len(_STICK_VALUES)]
    btn = _RANDOM_BUTTONS[(u[:, 2] * len(_RANDOM_BUTTONS)).astype(np.int64) % len(_RANDOM_BUTTONS)]
    c_on = u[:, 3] < 0.15
    cx = np.where(c_on, np.where(u[:, 3] < 0.075, F32(1.0), F32(-1.0)), F32(0.0))
    trig = np.where(btn == K.BUTTON_L, F32(1.0), F32(0.0))
    return ControllerBatch(btn, sx, sy, cx, np.zeros(n, F32), trig, np.zeros(n, F32))


class RandomBot(ScriptedBot):
    """Random inputs held for a few frames; `skill` is how often it still recovers to the stage."""

    name = "random"

    def __init__(self, n_games: int, skill: float | np.ndarray = 0.5, seed: int | np.ndarray = 0):
        super().__init__(n_games, skill, seed)
        self._current = ControllerBatch.neutral(n_games)
        self._left = np.zeros(n_games, np.int32)

    def _plan(self, me, them, u):
        change = self._left <= 0
        rand = random_controller(u[:, :4])
        self._current = _where_controller(change, rand, self._current)
        self._left = np.where(change, 2 + (u[:, 4] * 18).astype(np.int32), self._left - 1)
        c = self._current
        return c.main_x, c.main_y, c.c_x, c.c_y, c.l, c.buttons.astype(np.int64)


class _Fighter(ScriptedBot):
    """Helpers shared by the approach and defensive bots."""

    def _attack_choice(self, me, them, u, dx, dy, buttons, sx, sy, cx, cy, want):
        """Pick an attack toward the opponent where `want` is set: ground attacks or aerials."""
        facing_them = np.sign(dx) == me["facing"]
        air = me["airborne"] > 0
        toward = np.sign(dx)
        r = u[:, 2]
        above = dy > 12
        below = dy < -12
        # ground: turn first if needed; tilts, smashes (by c-stick) and jabs
        g = want & ~air
        turn = g & ~facing_them
        sx = np.where(turn, toward * F32(0.5), sx)
        g_go = g & facing_them
        up_attack = g_go & above
        kind = np.where(
            up_attack,
            np.where(r < 0.5, 2, 3),
            np.where(r < 0.3, 0, np.where(r < 0.55, 1, np.where(r < 0.8, 4, 5))),
        )
        # 0 jab, 1 ftilt, 2 utilt, 3 usmash (c up), 4 fsmash (c toward), 5 dtilt
        buttons = np.where(g_go & (kind != 3) & (kind != 4), buttons | K.BUTTON_A, buttons)
        sx = np.where(g_go & (kind == 1), toward * F32(0.5), np.where(g_go, F32(0.0), sx))
        sy = np.where(
            g_go & (kind == 2),
            F32(0.5),
            np.where(g_go & (kind == 5), F32(-0.5), np.where(g_go, F32(0.0), sy)),
        )
        cx = np.where(g_go & (kind == 4), toward, cx)
        cy = np.where(g_go & (kind == 3), F32(1.0), cy)
        # air: aerial by where the opponent is
        a = want & air
        rel = dx * me["facing"]
        a_kind_c = np.where(above, 0, np.where(below, 1, np.where(rel >= 0, 2, 3)))  # up, down, fwd, back
        use_c = a & (u[:, 3] < 0.5)
        cx = np.where(use_c & (a_kind_c >= 2), toward, cx)
        cy = np.where(use_c & (a_kind_c == 0), F32(1.0), np.where(use_c & (a_kind_c == 1), F32(-1.0), cy))
        use_a = a & ~use_c
        buttons = np.where(use_a, buttons | K.BUTTON_A, buttons)
        neutral_air = use_a & (u[:, 4] < 0.4)
        sx = np.where(
            use_a & ~neutral_air & (a_kind_c >= 2), toward * F32(0.6), np.where(neutral_air, F32(0.0), sx)
        )
        sy = np.where(use_a & ~neutral_air & (a_kind_c == 0), F32(0.7),
                      np.where(use_a & ~neutral_air & (a_kind_c == 1), F32(-0.7), sy))  # fmt: skip
        return buttons, sx, sy, cx, cy

    def _air_habits(self, me, them, u, buttons, sx, sy):
        """Fast fall when dropping toward the ground, L-cancel aerial landings."""
        air = me["airborne"] > 0
        action = me["action_state"].astype(np.int64)
        falling = air & (me["vel_self_y"] < 0) & (me["y"] > 0) & (np.abs(me["x"]) < K.EDGE_X)
        fastfall = falling & (u[:, 5] < 0.1 + 0.3 * self.skill) & (me["y"] < 40)
        sy = np.where(fastfall, F32(-1.0), sy)
        aerial = _ATTACK_ACTIONS[action] & air
        lcancel = aerial & (me["vel_self_y"] < 0) & (me["y"] < 8) & (u[:, 6] < 0.2 + 0.6 * self.skill)
        buttons = np.where(lcancel, buttons | K.BUTTON_Z, buttons)
        return buttons, sx, sy

    def _sticky_shield(self, start: np.ndarray, u: np.ndarray) -> np.ndarray:
        """People hold shield for a while once they raise it: 6-20 frames."""
        if not hasattr(self, "_shield_left"):
            self._shield_left = np.zeros(self.n, np.int32)
        self._shield_left = np.where(
            start & (self._shield_left == 0),
            6 + (u[:, 5] * 15).astype(np.int32),
            np.maximum(self._shield_left - 1, 0),
        )
        return self._shield_left > 0

    def _start_jump(self, mask: np.ndarray, full: np.ndarray, buttons: np.ndarray) -> np.ndarray:
        self._hold_jump = np.where(mask & full, 6, self._hold_jump)
        return np.where(mask, buttons | K.BUTTON_X, buttons)


class ApproachBot(_Fighter):
    """Runs at the opponent and attacks when in range; jumps in with aerials now and then."""

    name = "approach"

    def _plan(self, me, them, u):
        n = self.n
        dx = them["x"] - me["x"]
        dy = them["y"] - me["y"]
        adx = np.abs(dx)
        toward = np.sign(dx).astype(F32)
        air = me["airborne"] > 0
        buttons = np.zeros(n, np.int64)
        zero = np.zeros(n, F32)
        sx, sy, cx, cy, trig = toward.copy(), zero.copy(), zero.copy(), zero.copy(), zero.copy()
        # approach: dash in from afar, walk in when close; sometimes jump in
        far = adx > 22
        sx = np.where(far, toward, np.where(adx > 12, toward * F32(0.6), zero))
        jump_in = ~air & (adx > 18) & (adx < 60) & (u[:, 0] < 0.04)
        chase = ~air & (dy > 15) & (adx < 25) & (u[:, 0] > 0.92)  # they are above: jump after them
        buttons = self._start_jump(jump_in | chase, (u[:, 1] < 0.5) | chase, buttons)
        jump_in = jump_in | chase
        # attack when in range (aerials a little farther out)
        in_range = (adx < 16) & (np.abs(dy) < 22) | (air & (adx < 20) & (np.abs(dy) < 25))
        dead = them["action_state"] < 11
        attack = in_range & ~dead & (u[:, 1] < 0.35 + 0.3 * self.skill) & ~jump_in
        buttons, sx, sy, cx, cy = self._attack_choice(me, them, u, dx, dy, buttons, sx, sy, cx, cy, attack)
        # shield an attack coming at it, sometimes
        threat = _ATTACK_ACTIONS[them["action_state"].astype(np.int64)] & (adx < 25) & ~air
        shield = self._sticky_shield(threat & ~attack & (u[:, 4] < 0.05 * self.skill), u)
        trig = np.where(shield, F32(1.0), trig)
        sx = np.where(shield, zero, sx)
        buttons, sx, sy = self._air_habits(me, them, u, buttons, sx, sy)
        return sx, sy, cx, cy, trig, buttons


class DefensiveBot(_Fighter):
    """Keeps its distance, shields attacks in range, and punishes endlag and whiffs."""

    name = "defensive"

    def _plan(self, me, them, u):
        n = self.n
        dx = them["x"] - me["x"]
        dy = them["y"] - me["y"]
        adx = np.abs(dx)
        toward = np.sign(dx).astype(F32)
        air = me["airborne"] > 0
        zero = np.zeros(n, F32)
        buttons = np.zeros(n, np.int64)
        sx, sy, cx, cy, trig = zero.copy(), zero.copy(), zero.copy(), zero.copy(), zero.copy()
        action = them["action_state"].astype(np.int64)
        attacking = _ATTACK_ACTIONS[action]
        whiffed = attacking & (them["state_age"] > _LAST_ACTIVE[action])
        vulnerable = _ENDLAG_ACTIONS[action] | whiffed | (them["hitstun"] > 0)
        # spacing: back off when close (but not off the stage), come closer when far
        near_edge = np.abs(me["x"]) > K.EDGE_X - 20
        too_close = (adx < 30) & ~vulnerable
        away = -toward
        sx = np.where(too_close & ~near_edge, away, sx)
        hop_over = too_close & near_edge & ~air & (u[:, 0] < 0.1)
        hop_back = too_close & ~near_edge & ~air & (u[:, 0] > 0.97)  # retreat with a jump now and then
        buttons = self._start_jump(hop_over | hop_back, hop_over | (u[:, 1] < 0.5), buttons)
        sx = np.where(hop_over, toward, sx)
        sx = np.where(adx > 50, toward * F32(0.6), sx)
        # shield attacks in range
        threat = attacking & ~whiffed & (adx < 28) & ~air
        shield = self._sticky_shield(threat & (u[:, 1] < 0.1 + 0.3 * self.skill), u)
        trig = np.where(shield, F32(1.0), trig)
        sx = np.where(shield, zero, sx)
        # punish: rush in on endlag, attack when in range
        punish = vulnerable & ~shield & (u[:, 2] < 0.5 + 0.5 * self.skill)
        sx = np.where(punish & (adx >= 14), toward, sx)
        in_range = ((adx < 16) & (np.abs(dy) < 20)) | (air & (adx < 20) & (np.abs(dy) < 25))
        poke = (adx < 14) & (u[:, 3] < 0.05)  # an occasional poke when they walk in
        strike = ((punish & in_range) | (poke & ~shield)) & (them["action_state"] >= 11)
        buttons, sx, sy, cx, cy = self._attack_choice(me, them, u, dx, dy, buttons, sx, sy, cx, cy, strike)
        buttons, sx, sy = self._air_habits(me, them, u, buttons, sx, sy)
        return sx, sy, cx, cy, trig, buttons


BOTS: dict[str, type[ScriptedBot]] = {b.name: b for b in (RandomBot, ApproachBot, DefensiveBot)}


def make_bot(spec: str, n_games: int, seed: int | np.ndarray = 0) -> ScriptedBot:
    """A bot from a spec like `"approach"` or `"defensive:0.8"` (name, optional skill; default 0.5)."""
    name, _, skill = spec.partition(":")
    if name not in BOTS:
        raise ValueError(f"unknown bot {name!r}; choose one of: {', '.join(BOTS)}")
    try:
        skill_value = float(skill) if skill else 0.5
    except ValueError:
        raise ValueError(f"bot skill in {spec!r} must be a number in [0, 1]") from None
    if not 0.0 <= skill_value <= 1.0:
        raise ValueError(f"bot skill in {spec!r} must be in [0, 1]")
    return BOTS[name](n_games, skill_value, seed)
