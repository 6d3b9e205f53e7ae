"""The catalog: its schema, reading before the first ingest, and what ingest records."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from exphil_assets.replays.catalog import CATALOG_SCHEMA, catalog_frame, read_catalog, write_catalog
from exphil_assets.replays.names import character_name

ARCHITECTURE_COLUMNS = [
    "sha256", "path", "size", "mtime", "status", "error_class", "error", "duplicate_of",
    "slippi_version", "stage", "players", "frame_rows", "frames", "first_frame", "last_frame",
    "duration_s", "end_method", "batch", "ingested_at", "frame_table",
]  # fmt: skip


def test_catalog_has_the_architecture_columns():
    assert list(CATALOG_SCHEMA.names()) == ARCHITECTURE_COLUMNS


def test_reading_a_data_root_without_catalog_gives_an_empty_typed_frame(tmp_path):
    catalog = read_catalog(tmp_path)
    assert catalog.height == 0
    assert catalog.schema == CATALOG_SCHEMA


def test_catalog_round_trips_through_parquet_sorted_by_path(tmp_path):
    rows = [
        {"sha256": "b" * 64, "path": "/r/b.slp", "size": 3, "status": "quarantined", "error_class": "OSError",
         "error": "bad", "ingested_at": datetime.now(UTC)},
        {"sha256": "a" * 64, "path": "/r/a.slp", "size": 5, "status": "ok", "stage": 32, "frames": 10,
         "players": [{"port": 1, "character": 2, "type": "HUMAN", "name": None, "code": None}]},
    ]  # fmt: skip
    write_catalog(tmp_path, catalog_frame(rows))
    back = read_catalog(tmp_path)
    assert back["path"].to_list() == ["/r/a.slp", "/r/b.slp"]
    assert back["players"][0].to_list() == [
        {"port": 1, "character": 2, "type": "HUMAN", "name": None, "code": None}
    ]
    assert back.schema == CATALOG_SCHEMA
    assert not list(tmp_path.glob(".tmp-*"))


def test_ingested_catalog_has_one_row_per_shared_file(ingested_shared_data, manifest):
    catalog = read_catalog(ingested_shared_data)
    assert catalog.height == len(manifest) == 50
    assert catalog["path"].n_unique() == 50
    assert catalog.filter(pl.col("status") == "ok").height == 45
    by_name = {row["path"].rsplit("/", 1)[1]: row for row in catalog.iter_rows(named=True)}
    for entry in manifest:
        row = by_name[entry.file]
        if entry.parses:
            assert row["status"] == "ok"
            assert row["frames"] == entry.unique_frame_ids
            assert row["frame_rows"] == entry.frame_rows
            assert row["stage"] == entry.stage_id
            assert row["frame_table"] == f"frames/{row['sha256']}.parquet"
            assert (
                tuple((p["port"], character_name(p["character"]), p["type"]) for p in row["players"])
                == entry.players
            )
            assert row["error"] is None
        else:
            assert row["status"] == "quarantined"
            assert row["error_class"] in ("OSError", "PanicException")
            assert row["error"] and row["frame_table"] is None
