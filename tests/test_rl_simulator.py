"""The Melee-like simulator: Melee ids, frame-table columns, movement, hits, stocks, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from melee.enums import Action, Character

from exphil_assets.replays.frame_schema import PLAYER_FIELDS, frame_columns
from exphil_assets.rl import sim_constants as K
from exphil_assets.rl.bots import make_bot
from exphil_assets.rl.controller import ControllerBatch
from exphil_assets.rl.simulator import END_GAME, END_TIME, MeleeSim, SimConfig, knockback

DAMAGE_IDS = {a.value for a in Action if a.name.startswith("DAMAGE_")}
DEAD_IDS = set(K.DEAD_ACTIONS)


def press(
    n: int, buttons: int = 0, x: float = 0.0, y: float = 0.0, cx: float = 0.0, cy: float = 0.0
) -> ControllerBatch:
    full = lambda v: np.full(n, v, np.float32)  # noqa: E731
    return ControllerBatch(
        np.full(n, buttons, np.uint16), full(x), full(y), full(cx), full(cy), full(0), full(0)
    )


def play_bots(sim: MeleeSim, specs: tuple[str, str], frames: int, seed: int = 0):
    """Step `frames` frames with two bots; return (columns stacked [T, N], infos, inputs per frame)."""
    bots = [make_bot(specs[0], sim.n, seed), make_bot(specs[1], sim.n, seed + 1)]
    cols = sim.state_columns()
    rows, infos, inputs = [], [], []
    for _ in range(frames):
        i1, i2 = bots[0].act(cols, 1), bots[1].act(cols, 2)
        infos.append(sim.step(i1, i2))
        inputs.append((i1, i2))
        cols = sim.state_columns()
        rows.append(cols)
    stacked = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    return stacked, infos, inputs


@pytest.fixture(scope="module")
def bot_games():
    """12 games of 3000 frames between assorted bots (fox/marth/falco)."""
    pairs = [("fox", "marth"), ("marth", "falco"), ("falco", "fox"), ("fox", "fox")] * 3
    sim = MeleeSim(12, SimConfig(timer_frames=20000), seed=3, character_pairs=pairs)
    return play_bots(sim, ("approach", "defensive:0.8"), 3000, seed=5)


def test_state_columns_have_the_frame_table_names_and_dtypes():
    cols = MeleeSim(3).state_columns()
    assert list(cols) == frame_columns([1, 2])
    for port in (1, 2):
        for f in PLAYER_FIELDS:
            arr = cols[f"p{port}_{f.name}"]
            assert arr.dtype == np.dtype(f.dtype), f.name
            assert arr.shape == (3,)
    assert cols["frame"].dtype == np.int32


def test_ids_are_real_melee_ids():
    assert K.ACT.STANDING == Action.STANDING.value == 14
    assert K.ACT.KNEE_BEND == Action.KNEE_BEND.value == 24
    assert K.ACT.FALLING == Action.FALLING.value == 29
    assert K.ACT.LANDING == Action.LANDING.value == 42
    assert K.ATTACKS[K.ATTACK_INDEX["fsmash"]].action == Action.FSMASH_MID.value
    assert K.ATTACKS[K.ATTACK_INDEX["nair"]].action == Action.NAIR.value
    assert K.ATTACKS[K.ATTACK_INDEX["jab"]].action == Action.NEUTRAL_ATTACK_1.value
    libmelee_names = {"CAPTAIN_FALCON": "CPTFALCON"}
    for c in K.CHARACTERS:
        assert Character(c.internal_id).name == libmelee_names.get(c.name, c.name)
    cols = MeleeSim(2, character_pairs=[("fox", "marth"), ("falco", "sheik")]).state_columns()
    assert cols["p1_character"].tolist() == [Character.FOX.value, Character.FALCO.value]
    assert cols["p2_character"].tolist() == [Character.MARTH.value, Character.SHEIK.value]


def test_every_action_state_in_bot_games_is_a_melee_action(bot_games):
    cols, _, _ = bot_games
    seen = np.unique(np.concatenate([cols["p1_action_state"].ravel(), cols["p2_action_state"].ravel()]))
    valid = {a.value for a in Action}
    assert set(seen.tolist()) <= valid
    assert len(seen) >= 30  # the bots use most of the move set


def test_countdown_starts_at_frame_minus_123_with_the_entry_animation():
    sim = MeleeSim(1)
    sim.step(press(1), press(1))
    cols = sim.state_columns()
    assert cols["frame"][0] == -123
    assert cols["p1_action_state"][0] == Action.ENTRY.value
    entry = {Action.ENTRY.value, Action.ENTRY_START.value, Action.ENTRY_END.value}
    entry_frames = 1
    for _ in range(122):
        sim.step(press(1, x=1.0), press(1))  # inputs are ignored until the players drop in
        cols = sim.state_columns()
        if cols["p1_action_state"][0] in entry:
            entry_frames += 1
            assert cols["p1_x"][0] == K.SPAWN_X[0]
    assert cols["frame"][0] == -1
    assert 60 <= entry_frames <= 100
    assert cols["p1_x"][0] > K.SPAWN_X[0] + 10  # running once they could act


def hop_apex(hold_frames: int) -> float:
    sim = MeleeSim(1, SimConfig(countdown_frames=0))
    apex = 0.0
    for t in range(60):
        sim.step(press(1, K.BUTTON_X if t < hold_frames else 0), press(1))
        apex = max(apex, float(sim.state_columns()["p1_y"][0]))
    return apex


def test_held_jump_is_a_full_hop_and_tapped_jump_a_short_hop():
    full, short = hop_apex(10), hop_apex(1)
    assert full > short * 1.5 > 0


def test_jump_squat_then_airborne_then_landing():
    sim = MeleeSim(1, SimConfig(countdown_frames=0))
    actions, airborne = [], []
    for t in range(60):
        sim.step(press(1, K.BUTTON_X if t < 2 else 0), press(1))
        c = sim.state_columns()
        actions.append(int(c["p1_action_state"][0]))
        airborne.append(int(c["p1_airborne"][0]))
    assert actions[:3] == [Action.KNEE_BEND.value] * 3  # Fox: 3 frames of jump squat
    assert actions[3] == Action.JUMPING_FORWARD.value and airborne[3] == 1
    assert Action.LANDING.value in actions and airborne[-1] == 0


def test_double_jump_uses_up_a_jump():
    sim = MeleeSim(1, SimConfig(countdown_frames=0))
    script = [K.BUTTON_X] * 2 + [0] * 8 + [K.BUTTON_X] + [0] * 5
    for b in script:
        sim.step(press(1, b), press(1))
    c = sim.state_columns()
    assert c["p1_action_state"][0] in (
        Action.JUMPING_ARIAL_FORWARD.value,
        Action.JUMPING_ARIAL_BACKWARD.value,
    )
    assert c["p1_jumps"][0] == 0


def test_dash_moves_along_the_stick():
    sim = MeleeSim(1, SimConfig(countdown_frames=0))
    x0 = float(sim.state_columns()["p1_x"][0])
    sim.step(press(1, x=1.0), press(1))
    assert sim.state_columns()["p1_action_state"][0] == Action.DASHING.value
    for _ in range(20):
        sim.step(press(1, x=1.0), press(1))
    c = sim.state_columns()
    assert c["p1_action_state"][0] == Action.RUNNING.value
    assert c["p1_x"][0] > x0 + 30


def test_running_off_the_edge_falls_and_costs_a_stock():
    sim = MeleeSim(1, SimConfig(countdown_frames=0))
    lost_at, fell = None, False
    for t in range(400):
        info = sim.step(press(1, x=-1.0), press(1))
        c = sim.state_columns()
        fell |= bool(c["p1_airborne"][0] and c["p1_y"][0] < 0)
        if info.stocks_lost[0, 0]:
            lost_at = t
            break
    assert fell and lost_at is not None
    c = sim.state_columns()
    assert c["p1_stocks"][0] == 3
    assert c["p1_action_state"][0] in DEAD_IDS


def test_game_ends_when_a_player_runs_out_of_stocks():
    sim = MeleeSim(1, SimConfig(stocks=1, countdown_frames=0))
    for _ in range(600):
        info = sim.step(press(1), press(1, x=1.0))  # port 2 runs off the right edge
        if info.done[0]:
            break
    assert info.done[0] and info.winner[0] == 1 and info.end_method[0] == END_GAME
    before = sim.state_columns()
    sim.step(press(1, x=1.0), press(1, x=1.0))  # a finished game no longer changes
    after = sim.state_columns()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)


def test_timer_ends_the_game_on_time_as_a_draw():
    sim = MeleeSim(2, SimConfig(timer_frames=100, countdown_frames=0))
    for t in range(100):
        info = sim.step(press(2), press(2))
        assert info.done.all() == (t == 99)
    assert sim.state_columns()["frame"].tolist() == [99, 99]
    assert info.end_method.tolist() == [END_TIME, END_TIME] and info.winner.tolist() == [0, 0]


def test_reset_restarts_only_the_masked_games():
    sim = MeleeSim(3, SimConfig(countdown_frames=0))
    for _ in range(30):
        sim.step(press(3, x=1.0), press(3))
    sim.reset(np.array([False, True, False]))
    c = sim.state_columns()
    assert c["p1_x"][1] == K.SPAWN_X[0] and c["frame"][1] == -1
    assert c["p1_x"][0] > K.SPAWN_X[0] + 20 and c["frame"][0] == 29


def test_knockback_grows_with_percent_and_shrinks_with_weight():
    kb = knockback(np.array([10, 50, 100, 150]), 12, 100, 10, 100)
    assert np.all(np.diff(kb) > 0)
    assert knockback(80, 12, 60, 10, 100) > knockback(80, 12, 110, 10, 100)


def test_fsmash_hits_launches_away_and_kills_at_high_percent():
    sim = MeleeSim(1, SimConfig(countdown_frames=0))
    for _ in range(48):  # port 2 runs over next to port 1 (with the whole stage behind it)
        sim.step(press(1), press(1, x=-1.0))
    for _ in range(20):
        sim.step(press(1), press(1))
    assert 5 < sim.state_columns()["p2_x"][0] - sim.state_columns()["p1_x"][0] < 15
    launches, lost = [], False
    for t in range(3000):
        info = sim.step(press(1, cx=1.0 if t % 2 == 0 else 0.0), press(1))
        c = sim.state_columns()
        if info.damage_taken[0, 1] > 0:
            assert c["p2_action_state"][0] in DAMAGE_IDS
            assert c["p2_hitstun"][0] > 0 and c["p2_hitlag"][0] > 0
            assert np.sign(c["p2_vel_knockback_x"][0]) == np.sign(c["p2_x"][0] - c["p1_x"][0])
            launches.append(float(np.hypot(c["p2_vel_knockback_x"][0], c["p2_vel_knockback_y"][0])))
        if info.stocks_lost[0, 1]:
            lost = True
            break
        if c["p2_x"][0] - c["p1_x"][0] > 20 and c["p1_action_state"][0] == Action.STANDING.value:
            for _ in range(6):  # walk back into range
                sim.step(press(1, x=0.5), press(1))
    assert lost, "repeated forward smashes should take a stock"
    assert len(launches) >= 3 and launches[-1] > launches[0] * 2


def test_invariants_over_many_bot_frames(bot_games):
    cols, infos, _ = bot_games
    stocks_lost = np.stack([i.stocks_lost for i in infos])  # [T, N, 2]
    damage = np.stack([i.damage_taken for i in infos])
    hits = np.stack([i.hits for i in infos])
    assert stocks_lost.sum() >= 12 and hits.sum() >= 100
    for k, p in ((0, 1), (1, 2)):
        x, y = cols[f"p{p}_x"], cols[f"p{p}_y"]
        stocks = cols[f"p{p}_stocks"].astype(int)
        action = cols[f"p{p}_action_state"]
        percent = cols[f"p{p}_percent"]
        for name, arr in cols.items():
            if arr.dtype.kind == "f":
                assert np.isfinite(arr).all(), name
        # nobody is past a blast zone unless KO'd: the first frame out costs exactly one stock
        out = (np.abs(x) > K.BLAST_X) | (y > K.BLAST_TOP) | (y < K.BLAST_BOTTOM)
        assert np.isin(action[out], list(DEAD_IDS)).all()
        first_out = out[1:] & ~out[:-1]
        assert (stocks[:-1] - stocks[1:])[first_out].tolist() == [1] * int(first_out.sum())
        assert (np.diff(stocks, axis=0) <= 0).all()
        assert (stocks_lost[1:, :, k].astype(bool) == first_out).all()
        # damage only grows, except when a KO'd player respawns at 0%
        drop = np.diff(percent, axis=0) < 0
        respawn = (action[1:] == Action.ON_HALO_WAIT.value) & np.isin(action[:-1], list(DEAD_IDS))
        assert not (drop & ~respawn).any()
        assert (percent[1:][respawn] == 0).all()
        # every body hit: damage state, hitstun, knockback away from the attacker
        att = 1 - k
        hit = damage[:, :, k] > 0
        assert (hits[:, :, att] >= hit).all()
        assert np.isin(action[hit], list(DAMAGE_IDS)).all()
        assert (cols[f"p{p}_hitstun"][hit] > 0).all()
        dx = x[hit] - cols[f"p{att + 1}_x"][hit]
        kbx = cols[f"p{p}_vel_knockback_x"][hit]
        apart = np.abs(dx) > 0.5
        assert (np.sign(kbx[apart]) == np.sign(dx[apart])).all()
        assert (cols[f"p{p}_shield"] >= 0).all() and (cols[f"p{p}_shield"] <= K.SHIELD_MAX).all()


def test_vectorised_and_single_game_stepping_agree(bot_games):
    cols, _, inputs = bot_games
    pairs = [("fox", "marth"), ("marth", "falco"), ("falco", "fox"), ("fox", "fox")]
    for g in (1, 6):
        single = MeleeSim(1, SimConfig(timer_frames=20000), seed=3, character_pairs=[pairs[g % 4]])
        for t in range(1500):
            i1, i2 = inputs[t]
            single.step(i1.select([g]), i2.select([g]))
            row = single.state_columns()
            for name, arr in row.items():
                assert arr.tobytes() == cols[name][t, g : g + 1].tobytes(), (g, t, name)
