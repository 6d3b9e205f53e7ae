"""Our .slp writer: peppi-py and libmelee read back exactly what we wrote; bad input is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import melee
import numpy as np
import peppi_py
import pytest

from exphil_assets.errors import UserError
from exphil_assets.replays.frame_schema import PLAYER_FIELDS
from exphil_assets.replays.slp_writer import GameRecord, encode_slp, write_slp
from exphil_assets.rl import sim_constants as K
from exphil_assets.rl.record import simulate_games
from exphil_assets.rl.simulator import SimConfig


@pytest.fixture(scope="module")
def record() -> GameRecord:
    """A simulated fox-vs-marth game: 123 countdown frames + 900 gameplay frames."""
    (rec,) = simulate_games(
        SimConfig(timer_frames=900), [("fox", "marth")], [("approach", "defensive")], seed=7
    )
    return rec


@pytest.fixture(scope="module")
def written(record: GameRecord, tmp_path_factory) -> Path:
    return write_slp(record, tmp_path_factory.mktemp("slp") / "game.slp")


def _peppi_value(data, source: str) -> np.ndarray:
    """Follow a frame_schema source path (`post.velocities.self_y`, `post.state_flags[2]`) in peppi's frame data."""
    obj = data
    for part in source.split("."):
        if part.endswith("]"):
            name, idx = part[:-1].split("[")
            obj = getattr(obj, name)[int(idx)]
        else:
            obj = getattr(obj, part)
    return np.asarray(obj)


def test_peppi_reads_back_exactly_what_we_wrote(record: GameRecord, written: Path):
    game = peppi_py.read_slippi(str(written))
    cols = record.columns
    assert game.start.slippi.version == (3, 18, 0)
    assert game.start.stage == K.STAGE_ID
    assert [int(p.port) for p in game.start.players] == [0, 1]
    assert [p.character for p in game.start.players] == [2, 9]  # external ids: Fox, Marth
    assert [int(p.type) for p in game.start.players] == [0, 0]
    assert game.end.method == 1  # TIME
    np.testing.assert_array_equal(np.asarray(game.frames.id), cols["frame"])
    assert cols["frame"][0] == -123 and cols["frame"][-1] == 899
    for k, port in enumerate((1, 2)):
        leader = game.frames.ports[k].leader
        for f in PLAYER_FIELDS:
            ours = cols[f"p{port}_{f.name}"]
            theirs = _peppi_value(leader, f.source)
            assert theirs.shape == ours.shape, f.name
            if f.dtype == "float32":  # compare float bits, not values
                assert (theirs.astype(np.float32).view(np.uint32) == ours.view(np.uint32)).all(), f.name
            else:
                np.testing.assert_array_equal(theirs.astype(np.int64), ours.astype(np.int64), err_msg=f.name)
    assert game.metadata["lastFrame"] == 899
    assert game.metadata["players"]["0"]["characters"] == {"1": record.num_frames}


def test_the_game_has_varied_inputs_and_real_action(record: GameRecord):
    cols = record.columns
    assert len(np.unique(cols["p1_buttons_physical"])) >= 4
    assert len(np.unique(cols["p1_joystick_x"])) >= 5
    assert len(np.unique(cols["p1_action_state"])) >= 10
    assert (cols["p1_percent"] > 0).any() or (cols["p2_percent"] > 0).any()


def test_pre_frame_holds_the_inputs_that_produced_the_same_frame(record: GameRecord, written: Path):
    """Jump squat starts on the frame whose pre-frame has the jump button (no one-frame shift)."""
    game = peppi_py.read_slippi(str(written))
    jumps = 0
    for k in (0, 1):
        leader = game.frames.ports[k].leader
        action = np.asarray(leader.post.state)
        buttons = np.asarray(leader.pre.buttons_physical)
        starts = np.nonzero((action[1:] == K.ACT.KNEE_BEND) & (action[:-1] != K.ACT.KNEE_BEND))[0] + 1
        jumps += len(starts)
        assert ((buttons[starts] & (K.BUTTON_X | K.BUTTON_Y)) != 0).all()
        assert ((buttons[starts - 1] & (K.BUTTON_X | K.BUTTON_Y)) == 0).all()  # a fresh press
        # the pre-frame's state fields are the state before the input: last frame's post
        pre_state = np.asarray(leader.pre.state)
        np.testing.assert_array_equal(pre_state[1:], action[:-1])
    assert jumps >= 2


def test_libmelee_reads_every_frame(record: GameRecord, written: Path):
    console = melee.Console(is_dolphin=False, path=str(written), allow_old_version=False)
    console.connect()
    frames, checked = [], 0
    cols = record.columns
    while True:
        gs = console.step()
        if gs is None:
            break
        t = len(frames)
        frames.append(gs.frame)
        for port in (1, 2):
            ps = gs.players[port]
            assert np.float32(ps.percent) == cols[f"p{port}_percent"][t]
            assert ps.stock == cols[f"p{port}_stocks"][t]
            assert np.float32(ps.position.x) == cols[f"p{port}_x"][t]
            assert ps.action.value == cols[f"p{port}_action_state"][t]
            checked += 1
    assert frames == cols["frame"].tolist()
    assert checked == 2 * record.num_frames


def test_same_record_same_bytes(record: GameRecord):
    assert encode_slp(record) == encode_slp(dataclasses.replace(record, columns=dict(record.columns)))


def _broken(record: GameRecord, key: str, index: int, value) -> GameRecord:
    columns = {k: v.copy() for k, v in record.columns.items()}
    columns[key] = columns[key].astype(np.float32 if isinstance(value, float) else columns[key].dtype)
    columns[key][index] = value
    return dataclasses.replace(record, columns=columns)


def test_refuses_nan_position_naming_column_and_frame(record: GameRecord, tmp_path: Path):
    bad = _broken(record, "p1_x", 200, np.nan)
    target = tmp_path / "bad.slp"
    with pytest.raises(UserError, match=r"p1_x is nan at frame 77"):
        write_slp(bad, target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_refuses_infinite_velocity(record: GameRecord):
    with pytest.raises(UserError, match=r"p2_vel_self_y is inf at frame -100"):
        encode_slp(_broken(record, "p2_vel_self_y", 23, np.inf))


def test_refuses_unknown_character(record: GameRecord):
    with pytest.raises(UserError, match=r"p2_character is 99 at frame -123: not a known internal character"):
        encode_slp(_broken(record, "p2_character", 0, 99))


def test_refuses_empty_game_and_mismatched_lengths(record: GameRecord):
    empty = {k: v[:0] for k, v in record.columns.items()}
    with pytest.raises(UserError, match="empty game"):
        encode_slp(dataclasses.replace(record, columns=empty))
    short = dict(record.columns)
    short["p1_y"] = short["p1_y"][:-5]
    with pytest.raises(UserError, match=r"column 'p1_y' has \d+ rows, 'frame' has \d+"):
        encode_slp(dataclasses.replace(record, columns=short))
    missing = {k: v for k, v in record.columns.items() if k != "p2_jumps"}
    with pytest.raises(UserError, match="missing column 'p2_jumps'"):
        encode_slp(dataclasses.replace(record, columns=missing))


def test_refuses_frame_gaps_and_bad_end_method(record: GameRecord):
    cols = dict(record.columns)
    frames = cols["frame"].copy()
    frames[50:] += 1
    cols["frame"] = frames
    with pytest.raises(UserError, match="frame ids must go up by 1: frame -74 is followed by -72"):
        encode_slp(dataclasses.replace(record, columns=cols))
    with pytest.raises(UserError, match="end_method 5"):
        encode_slp(dataclasses.replace(record, end_method=5))


def test_refuses_sticks_out_of_range(record: GameRecord):
    with pytest.raises(UserError, match=r"p1_joystick_x is 1.5 at frame .*outside \[-1.0, 1.0\]"):
        encode_slp(_broken(record, "p1_joystick_x", 300, 1.5))
