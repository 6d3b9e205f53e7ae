"""Replay vs live parity: features via libmelee + the adapter equal features from our frame tables.

libmelee refuses replays older than 3.0, so only v3+ shared replays are used. The
compared features are ALL of them: the adapter's NOT_PROVIDED columns (state flags,
physical analog triggers, ground id, l-cancel, last attack / combo / last hit by) are
not model features, and build_features only reads flags 2 when the hurtbox field is null.
"""

from __future__ import annotations

from pathlib import Path

import melee
import numpy as np
import polars as pl
import pytest

from exphil_assets.features.libmelee_adapter import (
    NOT_PROVIDED,
    gamestate_to_columns,
    stack_columns,
    stage_id,
)
from exphil_assets.features.state import STATE_FIELDS, build_features
from exphil_assets.paths import DataPaths
from exphil_assets.replays.catalog import read_catalog

# (file, why it is here)
PARITY_FILES = [
    "peppi__v3.13.slp",  # ports 1 and 3
    "peppi__ics2.slp",  # Ice Climbers: Nana comes and goes
    "peppi__duplicate_game_end.slp",  # netplay rollbacks (first version kept on both sides)
    "exphil__mewtwo_approach_fair.slp",  # Mewtwo on port 2, Pokemon Stadium
]


def _live_columns(path: Path, ports: tuple[int, ...]) -> tuple[dict, int]:
    console = melee.Console(is_dolphin=False, path=str(path))
    console.connect()
    frames, seen, stage = [], set(), 0
    while (gs := console.step()) is not None:
        if gs.frame in seen:  # a rolled-back frame: keep the first version, as ingestion does
            continue
        seen.add(gs.frame)
        frames.append(gamestate_to_columns(gs, ports))
        stage = stage_id(gs)
    return stack_columns(frames), stage


def _assert_parity(ingested: Path, file: str) -> None:
    catalog = read_catalog(ingested)
    row = catalog.filter(pl.col("path").str.ends_with("/" + file)).row(0, named=True)
    ports = tuple(p["port"] for p in row["players"])
    table = pl.read_parquet(DataPaths(ingested).frame_table(row["sha256"]))
    live, stage = _live_columns(Path(row["path"]), ports)
    live_frames = live["frame"].data
    table = table.filter(pl.col("frame").is_in(live_frames.tolist()))
    np.testing.assert_array_equal(table["frame"].to_numpy(), live_frames)
    assert stage == row["stage"]
    for i, ego in enumerate(ports):  # every port as the ego once
        opp = ports[(i + 1) % len(ports)]
        replay = build_features(table, ego, opp, row["stage"])
        from_live = build_features(live, ego, opp, stage)
        for i, name in enumerate(replay.spec.float_names):
            np.testing.assert_array_equal(
                from_live.floats[:, i], replay.floats[:, i], err_msg=f"{file}: {name}"
            )
        np.testing.assert_array_equal(from_live.ids, replay.ids, err_msg=file)


@pytest.mark.parametrize("file", PARITY_FILES)
def test_live_features_equal_replay_features(ingested_shared_data, file):
    _assert_parity(ingested_shared_data, file)


@pytest.mark.slow
def test_live_features_equal_replay_features_on_every_v3_replay(ingested_shared_data, manifest):
    files = [m.file for m in manifest if m.parses and int(m.slippi_version.split(".")[0]) >= 3]
    assert len(files) > 20
    for file in files:
        _assert_parity(ingested_shared_data, file)


def test_not_provided_columns_are_not_read_by_the_features():
    # Only flags 2 is read, and only as the fallback when hurtbox_state is null.
    assert set(NOT_PROVIDED) & set(STATE_FIELDS) == {"state_flags_2"}


def test_stage_ids_map_libmelee_stages_to_external_ids():
    class Fake:
        stage = melee.enums.Stage.FINAL_DESTINATION

    assert stage_id(Fake) == 32
    Fake.stage = melee.enums.Stage.NO_STAGE
    assert stage_id(Fake) == 0
