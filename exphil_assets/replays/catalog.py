"""The replay catalog: one row per replay path seen, stored as `data/catalog.parquet`.

Status is 'ok' (a frame table exists at `frame_table`), 'quarantined' (peppi
could not read it: `error_class`, `error`) or 'duplicate' (same sha256 as
`duplicate_of`, another path). The Parquet file is the source of truth; DuckDB
only holds views over it (duckdb_views.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from exphil_assets.atomic import atomic_path
from exphil_assets.paths import DataPaths

STATUS_OK = "ok"
STATUS_QUARANTINED = "quarantined"
STATUS_DUPLICATE = "duplicate"

PLAYER_STRUCT = pl.Struct(
    {
        "port": pl.UInt8,  # 1-4
        "character": pl.UInt8,  # external character id (game start)
        "type": pl.String,  # 'HUMAN' | 'CPU' | 'DEMO'
        "name": pl.String,
        "code": pl.String,
    }
)

CATALOG_SCHEMA = pl.Schema(
    {
        "sha256": pl.String,
        "path": pl.String,
        "size": pl.Int64,
        "mtime": pl.Datetime("ns", "UTC"),
        "status": pl.String,
        "error_class": pl.String,
        "error": pl.String,
        "duplicate_of": pl.String,
        "slippi_version": pl.String,
        "stage": pl.UInt16,  # external stage id
        "players": pl.List(PLAYER_STRUCT),
        "frame_rows": pl.Int64,
        "frames": pl.Int64,
        "first_frame": pl.Int32,
        "last_frame": pl.Int32,
        "duration_s": pl.Float64,
        "end_method": pl.String,
        "batch": pl.String,
        "ingested_at": pl.Datetime("us", "UTC"),
        "frame_table": pl.String,  # relative to the data root
    }
)

# Columns copied from the original row onto a duplicate row.
REPLAY_COLUMNS = (
    "slippi_version",
    "stage",
    "players",
    "frame_rows",
    "frames",
    "first_frame",
    "last_frame",
    "duration_s",
    "end_method",
    "frame_table",
)


def empty_catalog() -> pl.DataFrame:
    return pl.DataFrame(schema=CATALOG_SCHEMA)


def catalog_frame(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """Build catalog rows (dicts keyed by CATALOG_SCHEMA names) into a typed DataFrame."""
    return pl.DataFrame(list(rows), schema=CATALOG_SCHEMA, orient="row")


def read_catalog(data_root: str | Path) -> pl.DataFrame:
    """The catalog of `data_root`; empty (with the full schema) before the first ingest."""
    path = DataPaths(Path(data_root)).catalog
    if not path.exists():
        return empty_catalog()
    catalog = pl.read_parquet(path)
    # Tolerate catalogs written before a column was added: fill it with nulls.
    missing = [
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in CATALOG_SCHEMA.items()
        if name not in catalog.columns
    ]
    return catalog.with_columns(missing).select(list(CATALOG_SCHEMA.names()))


def write_catalog(data_root: str | Path, catalog: pl.DataFrame) -> Path:
    """Write the catalog atomically (sorted by path, so equal catalogs are equal files)."""
    path = DataPaths(Path(data_root)).catalog
    with atomic_path(path) as tmp:
        catalog.sort("path").write_parquet(tmp, compression="zstd", statistics=False)
    return path
