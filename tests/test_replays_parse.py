"""read_frame_table on the real shared replays: manifest agreement, rollback dedup, ports, nulls."""

from __future__ import annotations

import numpy as np
import peppi_py
import polars as pl
import pytest

from exphil_assets.replays.frame_schema import (
    FRAME_SCHEMA_VERSION,
    META_PORTS,
    META_ROLLBACK,
    META_SCHEMA_VERSION,
    PLAYER_FIELDS,
)
from exphil_assets.replays.names import character_name
from exphil_assets.replays.parse import read_frame_arrow, read_frame_table

ROLLBACK_FILES = ("peppi__ics2.slp", "peppi__v3.16.slp", "peppi__duplicate_game_end.slp")


def _row(manifest, name):
    return next(r for r in manifest if r.file == name)


def test_every_parsable_replay_matches_the_manifest(manifest):
    for row in (r for r in manifest if r.parses):
        frames, info = read_frame_table(row.path)
        assert info.frame_rows == row.frame_rows, row.file
        assert info.frames == row.unique_frame_ids == frames.height, row.file
        assert (info.first_frame, info.last_frame) == (row.first_frame_id, row.last_frame_id), row.file
        assert frames["frame"][0] == row.first_frame_id and frames["frame"][-1] == row.last_frame_id
        assert info.slippi_version == row.slippi_version, row.file
        assert info.stage == row.stage_id, row.file
        assert tuple((p.port, character_name(p.character), p.type) for p in info.players) == row.players
        assert info.duration_s == pytest.approx(row.unique_frame_ids / 60, abs=1e-3)


@pytest.mark.parametrize("name", ROLLBACK_FILES)
def test_rollback_frames_are_deduplicated_to_unique_increasing_ids(manifest, name):
    row = _row(manifest, name)
    assert row.frame_rows > row.unique_frame_ids  # the file really has rollbacks
    for rollback in ("first", "last"):
        frames, info = read_frame_table(row.path, rollback=rollback)
        ids = frames["frame"].to_numpy()
        assert len(ids) == row.unique_frame_ids
        assert np.all(np.diff(ids) > 0)
        assert info.frame_rows == row.frame_rows


@pytest.mark.parametrize(
    ("name", "frame", "column", "port_index", "source"),
    [
        ("peppi__v3.16.slp", 49, "p2_action_state", 1, ("post", "state")),
        ("peppi__ics2.slp", 535, "p2_buttons_physical", 1, ("pre", "buttons_physical")),
        ("peppi__duplicate_game_end.slp", 3128, "p1_x", 0, ("post", "position", "x")),
    ],
)
def test_rollback_first_keeps_the_first_version_and_last_the_last(
    shared_replays, name, frame, column, port_index, source
):
    game = peppi_py.read_slippi(str(shared_replays / name))
    ids = game.frames.id.to_numpy()
    node = game.frames.ports[port_index].leader
    for step in source:
        node = getattr(node, step)
    versions = node.to_numpy()[np.flatnonzero(ids == frame)]
    assert len(versions) >= 2 and versions[0] != versions[-1]  # a frame that really differs

    first, _ = read_frame_table(shared_replays / name, rollback="first")
    last, _ = read_frame_table(shared_replays / name, rollback="last")
    assert first.filter(pl.col("frame") == frame)[column].item() == versions[0]
    assert last.filter(pl.col("frame") == frame)[column].item() == versions[-1]


def test_unknown_rollback_mode_is_refused(shared_replays):
    with pytest.raises(ValueError, match="rollback"):
        read_frame_table(shared_replays / "peppi__v3.18.slp", rollback="middle")


def test_ports_follow_the_occupied_ports_not_their_index(shared_replays):
    frames, info = read_frame_table(shared_replays / "peppi__nintendont.slp")
    assert info.ports == (2, 4)
    assert [p.character for p in info.players] == [19, 9]  # Sheik, Marth (external ids)
    assert "p2_x" in frames.columns and "p4_x" in frames.columns
    assert not any(c.startswith(("p1_", "p3_")) for c in frames.columns)
    # post-frame character is the internal id: Sheik 7 on port 2, Marth 18 on port 4
    assert frames["p2_character"].unique().to_list() == [7]
    assert frames["p4_character"].unique().to_list() == [18]


def test_ice_climbers_get_nana_columns_that_are_null_when_nana_is_dead(shared_replays):
    frames, info = read_frame_table(shared_replays / "peppi__ics2.slp")
    assert info.ports == (1, 2)
    nana = [c for c in frames.columns if c.startswith("p1_nana_")]
    assert len(nana) == len(PLAYER_FIELDS)
    assert not any(c.startswith("p2_nana_") for c in frames.columns)  # Falco has no follower
    dead = frames["p1_nana_x"].is_null()
    assert 0 < dead.sum() < frames.height  # Nana dies partway through this game
    assert frames.filter(dead)["p1_nana_action_state"].null_count() == dead.sum()
    assert frames["p1_x"].null_count() == 0
    assert set(frames.filter(~dead)["p1_nana_character"].unique().to_list()) == {11}  # internal Nana


def test_fields_missing_from_old_versions_are_null(shared_replays):
    frames, info = read_frame_table(shared_replays / "peppi__v0.1.slp")
    assert info.slippi_version == "0.1.0"
    for column in ("p1_hitlag", "p1_vel_self_y", "p1_airborne", "p1_state_flags_1", "p1_state_age"):
        assert frames[column].null_count() == frames.height, column
    assert frames["p1_x"].null_count() == 0
    modern, _ = read_frame_table(shared_replays / "peppi__v3.18.slp")
    for column in ("p1_hitlag", "p1_vel_self_y", "p1_airborne", "p1_state_flags_1", "p1_state_age"):
        assert modern[column].null_count() == 0, column


def test_column_dtypes_follow_the_schema(shared_replays):
    frames, _ = read_frame_table(shared_replays / "peppi__v0.1.slp")
    assert frames.schema["frame"] == pl.Int32
    for field in PLAYER_FIELDS:
        assert frames.schema[f"p2_{field.name}"] == field.polars_type, field.name


def test_arrow_table_carries_schema_metadata(shared_replays):
    table, _ = read_frame_arrow(shared_replays / "peppi__short_game_tbh10.slp", rollback="last")
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert meta[META_SCHEMA_VERSION] == str(FRAME_SCHEMA_VERSION)
    assert meta[META_PORTS] == "1,4"
    assert meta[META_ROLLBACK] == "last"


def test_netplay_names_and_codes_are_read_with_an_ascii_hash(shared_replays):
    _, info = read_frame_table(shared_replays / "peppi__ics2.slp")
    assert [(p.name, p.code) for p in info.players] == [("xxxxxx", "XX#111"), ("yyyyyyyyyyyyy", "YYYY#222")]
    assert info.end_method == "GAME"


def test_panicking_file_raises_a_base_exception_the_caller_must_catch(shared_replays):
    with pytest.raises(BaseException) as excinfo:  # noqa: PT011 - PanicException has no importable class
        read_frame_table(shared_replays / "libmelee__test_game_1.slp")
    assert type(excinfo.value).__name__ == "PanicException"
    assert not isinstance(excinfo.value, Exception)
