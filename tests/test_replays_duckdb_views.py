"""DuckDB views over the Parquet files: queryable, read-only, rebuilt when missing."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from exphil_assets.replays.catalog import read_catalog
from exphil_assets.replays.duckdb_views import build_views, connect


@pytest.fixture()
def data_copy(ingested_shared_data, tmp_path):
    """A private copy of the shared data root (views store absolute paths)."""
    root = tmp_path / "data"
    shutil.copytree(ingested_shared_data, root)
    return root


def test_views_answer_from_the_parquet_files(ingested_shared_data, manifest):
    con = connect(ingested_shared_data)
    try:
        assert con.execute("SELECT count(*) FROM catalog").fetchone() == (50,)
        assert (
            con.execute("SELECT count(*) FROM frames").fetchone()[0]
            == read_catalog(ingested_shared_data)["frames"].sum()
        )
        assert con.execute("SELECT count(DISTINCT sha256) FROM frames").fetchone() == (45,)
        players = con.execute("SELECT count(*) FROM replay_players WHERE status = 'ok'").fetchone()[0]
        assert players == sum(len(r.players) for r in manifest if r.parses)
        top = con.execute("SELECT character_name, replays FROM replays_by_character LIMIT 1").fetchone()
        assert top == ("FOX", 24)
        fd = con.execute(
            "SELECT replays FROM replays_by_stage WHERE stage_name = 'FINAL_DESTINATION'"
        ).fetchone()
        assert fd == (27,)
        assert con.execute("SELECT sum(replays) FROM replays_by_month").fetchone() == (45,)
        learner = con.execute(
            "SELECT sum(frames) FROM frames_per_learner WHERE character_name = 'MEWTWO'"
        ).fetchone()[0]
        assert learner > 0
        reasons = dict(con.execute("SELECT error_class, files FROM quarantine_reasons").fetchall())
        assert reasons == {"OSError": 4, "PanicException": 1}
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE nope (x INTEGER)")  # read-only by default
    finally:
        con.close()


def test_connect_rebuilds_a_deleted_database(data_copy):
    (data_copy / "exphil.duckdb").unlink()
    con = connect(data_copy)
    try:
        assert con.execute("SELECT count(*) FROM catalog").fetchone() == (50,)
    finally:
        con.close()


def test_views_need_a_catalog(tmp_path):
    from exphil_assets.errors import UserError

    with pytest.raises(UserError, match="no catalog"):
        build_views(tmp_path)


def test_views_built_once_see_frame_tables_of_later_ingests(shared_replays, tmp_path):
    from exphil_assets.replays.ingest import ingest_replays

    data = tmp_path / "data"
    ingest_replays([shared_replays / "peppi__v3.18.slp"], data, progress=False)
    db_inode = (data / "exphil.duckdb").stat().st_ino
    ingest_replays([shared_replays / "peppi__ics2.slp"], data, progress=False)
    assert (data / "exphil.duckdb").stat().st_ino == db_inode  # not rebuilt
    con = connect(data)
    try:
        assert con.execute("SELECT count(*) FROM frames").fetchone() == (941 + 9519,)
        assert con.execute("SELECT count(p1_nana_x) FROM frames").fetchone()[0] > 0  # ics2's Nana columns
        assert con.execute("SELECT count(*) FROM catalog").fetchone() == (2,)
    finally:
        con.close()


def test_a_root_with_only_quarantined_files_still_gets_queryable_views(shared_replays, tmp_path):
    from exphil_assets.replays.ingest import ingest_replays

    data = tmp_path / "data"
    ingest_replays([shared_replays / "peppi__corrupt.slp"], data, progress=False)
    con = connect(data)
    try:
        assert con.execute("SELECT count(*) FROM frames").fetchone() == (0,)
        assert con.execute("SELECT files FROM quarantine_reasons").fetchone() == (1,)
    finally:
        con.close()
    ingest_replays([shared_replays / "peppi__v3.18.slp"], data, progress=False)
    con = connect(data)  # the placeholder frames view is replaced once a table exists
    try:
        assert con.execute("SELECT count(*) FROM frames").fetchone() == (941,)
    finally:
        con.close()
