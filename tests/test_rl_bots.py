"""Scripted bots: deterministic, human-like inputs, and they actually fight."""

from __future__ import annotations

import numpy as np
import pytest

from exphil_assets.rl import sim_constants as K
from exphil_assets.rl.bots import BOTS, make_bot
from exphil_assets.rl.controller import ControllerBatch
from exphil_assets.rl.simulator import MeleeSim, SimConfig

KNOWN_BUTTONS = (
    K.BUTTON_A
    | K.BUTTON_B
    | K.BUTTON_X
    | K.BUTTON_Y
    | K.BUTTON_Z
    | K.BUTTON_L
    | K.BUTTON_R
    | K.BUTTON_DPAD_UP
)


def run(specs: tuple[str, str], n: int, frames: int, seed: int = 0, timer: int = 20000):
    """Play n games for `frames` frames; return (inputs of port 1 per frame, sim, step infos)."""
    sim = MeleeSim(n, SimConfig(timer_frames=timer), seed=seed)
    b1, b2 = make_bot(specs[0], n, seed), make_bot(specs[1], n, seed + 100)
    cols = sim.state_columns()
    inputs, infos = [], []
    for _ in range(frames):
        i1, i2 = b1.act(cols, 1), b2.act(cols, 2)
        inputs.append(i1)
        infos.append(sim.step(i1, i2))
        cols = sim.state_columns()
    return inputs, sim, infos


def as_array(inputs: list[ControllerBatch]) -> np.ndarray:
    return np.stack(
        [np.stack([i.buttons.astype(np.float32), i.main_x, i.main_y, i.c_x, i.c_y, i.l]) for i in inputs]
    )


@pytest.mark.parametrize("name", sorted(BOTS))
def test_bots_are_deterministic_for_a_seed(name: str):
    a = as_array(run((name, "approach"), 4, 200, seed=1)[0])
    b = as_array(run((name, "approach"), 4, 200, seed=1)[0])
    c = as_array(run((name, "approach"), 4, 200, seed=2)[0])
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


@pytest.mark.parametrize("name", sorted(BOTS))
def test_bot_inputs_look_like_a_controller(name: str):
    inputs, _, _ = run((name, "defensive"), 8, 600)
    arr = as_array(inputs)
    buttons = arr[:, 0].astype(np.int64)
    assert (buttons & ~KNOWN_BUTTONS == 0).all()
    sticks = arr[:, 1:5]
    assert (np.abs(sticks) <= 1).all()
    assert np.allclose(sticks * 80, np.round(sticks * 80))  # Melee's 1/80 steps
    assert ((sticks == 0) | (np.abs(sticks) >= K.STICK_DEADZONE)).all()
    assert ((arr[:, 5] >= 0) & (arr[:, 5] <= 1)).all()
    # a button is never held across two frames (except jump, held for full hops, and D-up)
    held = buttons[1:] & buttons[:-1] & ~(K.BUTTON_X | K.BUTTON_Y | K.BUTTON_DPAD_UP)
    assert (held == 0).all()
    assert len(np.unique(buttons)) >= 3 and len(np.unique(arr[:, 1])) >= 4


def test_skill_sets_the_reaction_delay():
    slow, fast = make_bot("approach:0", 2), make_bot("approach:1", 2)
    assert (slow.delay == 14).all() and (fast.delay == 2).all()
    mixed = BOTS["defensive"](3, skill=np.array([0.0, 0.5, 1.0]))
    assert mixed.delay.tolist() == [14, 8, 2]


def test_make_bot_rejects_unknown_names_and_skills():
    with pytest.raises(ValueError, match="unknown bot 'smart'"):
        make_bot("smart", 1)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        make_bot("random:1.5", 1)


def test_a_game_plays_the_same_alone_or_in_a_batch():
    n, frames = 3, 150
    seeds = np.array([11, 22, 33], np.uint64)
    sim = MeleeSim(n, seed=seeds)
    bots = [make_bot("approach", n, seeds), make_bot("defensive", n, seeds + np.uint64(1))]
    alone = MeleeSim(1, seed=seeds[1:2])
    solo = [make_bot("approach", 1, seeds[1:2]), make_bot("defensive", 1, seeds[1:2] + np.uint64(1))]
    cols, solo_cols = sim.state_columns(), alone.state_columns()
    for _ in range(frames):
        sim.step(bots[0].act(cols, 1), bots[1].act(cols, 2))
        alone.step(solo[0].act(solo_cols, 1), solo[1].act(solo_cols, 2))
        cols, solo_cols = sim.state_columns(), alone.state_columns()
        for k, v in solo_cols.items():
            assert v.tobytes() == cols[k][1:2].tobytes(), k


def test_approach_and_defensive_bots_fight_and_take_stocks():
    """Within 75 seconds, bots land hits both ways and take stocks in every game."""
    _, sim, infos = run(("approach:0.7", "defensive:0.7"), 3, 75 * 60, seed=3)
    hits = np.stack([i.hits for i in infos]).sum(axis=0)  # [N, 2]
    lost = np.stack([i.stocks_lost for i in infos]).sum(axis=0)
    assert (hits >= 5).all()
    assert (lost.sum(axis=1) >= 1).all() and lost.sum() >= 6


def test_skilled_approach_bot_beats_random_bot():
    _, sim, infos = run(("approach:0.9", "random"), 4, 40 * 60, seed=4)
    lost = np.stack([i.stocks_lost for i in infos]).sum(axis=0)
    assert lost[:, 1].sum() > lost[:, 0].sum()
