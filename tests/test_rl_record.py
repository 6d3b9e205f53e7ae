"""Generating replays of bot games: readable, deterministic for a seed, ingestible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import peppi_py
import polars as pl
import pytest

from exphil_assets.errors import UserError
from exphil_assets.replays.slp_writer import write_slp
from exphil_assets.rl.record import generate_replays, simulate_games
from exphil_assets.rl.simulator import SimConfig


@pytest.fixture(scope="module")
def replays(tmp_path_factory) -> list[Path]:
    """Four 600-frame games with the default matchups and bots."""
    return generate_replays(tmp_path_factory.mktemp("sim"), games=4, seed=11, frames=600)


def test_generated_replays_are_real_slippi_games(replays: list[Path]):
    assert [p.name for p in replays] == [f"sim-11-{i:04d}.slp" for i in range(4)]
    matchups = []
    for path in replays:
        game = peppi_py.read_slippi(str(path))
        ids = np.asarray(game.frames.id)
        assert ids[0] == -123 and ids[-1] == 599 and (np.diff(ids) == 1).all()
        assert game.start.stage == 32
        assert game.end.method == 1  # the 600-frame timer ran out
        assert [int(p.type) for p in game.start.players] == [0, 0]
        matchups.append(tuple(p.character for p in game.start.players))
        for port in game.frames.ports:
            assert len(np.unique(np.asarray(port.leader.pre.buttons_physical))) >= 3
            assert len(np.unique(np.asarray(port.leader.post.state))) >= 8
    assert matchups == [(2, 9), (2, 20), (20, 9), (9, 2)]  # fox-marth, fox-falco, falco-marth, marth-fox


def test_same_seed_same_bytes_other_seed_other_bytes(replays: list[Path], tmp_path: Path):
    again = generate_replays(tmp_path / "again", games=2, seed=11, frames=600)
    other = generate_replays(tmp_path / "other", games=2, seed=12, frames=600)
    for i in range(2):
        assert again[i].read_bytes() == replays[i].read_bytes()
        assert other[i].read_bytes() != replays[i].read_bytes()


def test_bad_arguments_are_user_errors(tmp_path: Path):
    with pytest.raises(UserError, match="games must be >= 1"):
        generate_replays(tmp_path, games=0)
    with pytest.raises(UserError, match="'pikachu' is not simulated"):
        generate_replays(tmp_path, games=1, characters=[("fox", "pikachu")])
    with pytest.raises(UserError, match="unknown bot 'smart'"):
        generate_replays(tmp_path, games=1, bots=[("smart", "random")])
    with pytest.raises(UserError, match=r"skill in 'approach:2' must be in \[0, 1\]"):
        generate_replays(tmp_path, games=1, bots=[("approach:2", "random")])
    assert list(tmp_path.iterdir()) == []


def test_generated_replays_ingest_ok(replays: list[Path], tmp_path: Path):
    ingest = pytest.importorskip("exphil_assets.replays.ingest")
    summary = ingest.ingest_replays(replays[0].parent, tmp_path / "data", workers=1, progress=False)
    assert summary.ok == len(replays) and summary.quarantined == 0


def test_ingested_frame_table_equals_the_simulator_columns(tmp_path: Path):
    """simulator state_columns -> .slp -> ingest -> frame table: every column comes back bit for bit."""
    ingest = pytest.importorskip("exphil_assets.replays.ingest")
    from exphil_assets.replays.catalog import read_catalog

    (record,) = simulate_games(
        SimConfig(timer_frames=400), [("falco", "fox")], [("approach", "defensive")], seed=5
    )
    write_slp(record, tmp_path / "replays" / "game.slp")
    summary = ingest.ingest_replays(tmp_path / "replays", tmp_path / "data", workers=1, progress=False)
    assert summary.ok == 1
    row = read_catalog(tmp_path / "data").row(0, named=True)
    assert row["status"] == "ok" and row["stage"] == 32 and row["end_method"] is not None
    table = pl.read_parquet(tmp_path / "data" / row["frame_table"])
    assert table.columns == list(record.columns)
    for name, ours in record.columns.items():
        theirs = table[name].to_numpy()
        assert theirs.dtype == ours.dtype, name
        assert theirs.tobytes() == ours.tobytes(), name
