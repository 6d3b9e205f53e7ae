"""The frame-table schema: the column layout every reader relies on."""

from __future__ import annotations

import polars as pl

from exphil_assets.replays.frame_schema import (
    FRAME_SCHEMA_VERSION,
    PLAYER_FIELDS,
    arrow_schema,
    format_ports,
    frame_columns,
    parse_ports,
    with_all_nana_columns,
)


def test_schema_version_is_one():
    assert FRAME_SCHEMA_VERSION == 1


def test_player_fields_are_the_documented_ones():
    names = [f.name for f in PLAYER_FIELDS]
    assert len(names) == len(set(names)) == 38
    for expected in ("buttons_physical", "joystick_x", "trigger_l", "action_state", "hitstun", "hitlag",
                     "vel_self_x_ground", "state_flags_5", "last_hit_by", "ground", "airborne"):  # fmt: skip
        assert expected in names


def test_columns_are_frame_then_leader_and_nana_blocks_per_port():
    cols = frame_columns((2, 4), nana_ports=(4,))
    n = len(PLAYER_FIELDS)
    assert cols[0] == "frame"
    assert cols[1] == "p2_buttons_physical" and cols[n] == "p2_last_hit_by"
    assert cols[n + 1] == "p4_buttons_physical"
    assert cols[2 * n + 1] == "p4_nana_buttons_physical"
    assert len(cols) == 1 + 3 * n
    assert arrow_schema((2, 4), (4,)).names == cols


def test_ports_metadata_round_trips():
    assert format_ports((2, 4)) == "2,4"
    assert parse_ports("2,4") == (2, 4)


def test_with_all_nana_columns_adds_typed_null_columns_only_where_missing():
    frames = pl.DataFrame({"frame": [1, 2], "p1_x": [0.0, 1.0], "p2_nana_buttons_physical": [1, 2]})
    out = with_all_nana_columns(frames, (1, 2))
    assert out["p1_nana_x"].dtype == pl.Float32 and out["p1_nana_x"].null_count() == 2
    assert out["p1_nana_action_state"].dtype == pl.UInt16
    assert out["p2_nana_buttons_physical"].to_list() == [1, 2]  # present: left alone
    assert "p2_nana_x" not in out.columns  # port 2 already has its Nana block
