"""`data/exphil.duckdb`: DuckDB VIEWS over the catalog and frame Parquet files.

DuckDB is a read-only query layer; the Parquet files are the source of truth.
The database holds only views (plus two small name tables), so rebuilding it is
cheap and loses nothing. It is built in a temporary file and renamed into
place, so readers never see a half-built database and are never blocked.

DuckDB binds a view's files and columns again at every query, so views built
once keep seeing new frame tables; they are rebuilt only when missing, from an
older VIEWS_VERSION, for another root, or when the frames view had no files to
bind yet (`views_current`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import duckdb

from exphil_assets.errors import UserError
from exphil_assets.paths import DataPaths
from exphil_assets.replays.names import character_names, stage_names

# Bump when a view changes, so connect() rebuilds an older database.
VIEWS_VERSION = 1


def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _table_sql(name: str, columns: tuple[str, str], rows: dict) -> str:
    """CREATE TABLE ... AS VALUES: one statement (DuckDB's executemany is slow per row)."""
    values = ", ".join(f"({_sql_value(k)}, {_sql_str(v)})" for k, v in rows.items())
    return f"CREATE TABLE {name} ({columns[0]}, {columns[1]}) AS SELECT * FROM (VALUES {values})"


def _sql_value(value: int | str) -> str:
    return str(int(value)) if isinstance(value, int) else _sql_str(value)


def _has_frame_tables(paths: DataPaths) -> bool:
    return paths.frames_dir.exists() and any(paths.frames_dir.glob("*.parquet"))


def _view_statements(paths: DataPaths, has_frames: bool) -> list[str]:
    catalog = _sql_str(paths.catalog)
    frames_glob = _sql_str(paths.frames_dir / "*.parquet")
    frames_sql = (
        f"SELECT regexp_extract(filename, '([0-9a-f]{{64}})\\.parquet$', 1) AS sha256, * EXCLUDE (filename) "
        f"FROM read_parquet({frames_glob}, union_by_name = true, filename = true)"
        if has_frames
        # DuckDB binds a view when it is created, and a glob with no files fails.
        else "SELECT NULL::VARCHAR AS sha256, NULL::INTEGER AS frame WHERE false"
    )
    return [
        f"CREATE VIEW catalog AS SELECT * FROM read_parquet({catalog})",
        """CREATE VIEW replay_players AS
           SELECT sha256, path, status, stage, frames, unnest(players, recursive := true)
           FROM catalog""",
        f"CREATE VIEW frames AS {frames_sql}",
        """CREATE VIEW replays_by_character AS
           SELECT p.character, c.name AS character_name,
                  count(DISTINCT p.sha256) AS replays, sum(p.frames) AS frames
           FROM replay_players p LEFT JOIN character_names c ON c.id = p.character
           WHERE p.status = 'ok' GROUP BY ALL ORDER BY replays DESC, p.character""",
        """CREATE VIEW replays_by_stage AS
           SELECT r.stage, s.name AS stage_name, count(*) AS replays, sum(r.frames) AS frames
           FROM catalog r LEFT JOIN stage_names s ON s.id = r.stage
           WHERE r.status = 'ok' GROUP BY ALL ORDER BY replays DESC, r.stage""",
        # The file's modification time is when the game was saved (the catalog has no game date).
        """CREATE VIEW replays_by_month AS
           SELECT strftime(mtime, '%Y-%m') AS month, count(*) AS replays, sum(frames) AS frames
           FROM catalog WHERE status = 'ok' GROUP BY ALL ORDER BY month""",
        """CREATE VIEW frames_per_learner AS
           SELECT p.port, p.character, c.name AS character_name,
                  count(*) AS replays, sum(p.frames) AS frames
           FROM replay_players p LEFT JOIN character_names c ON c.id = p.character
           WHERE p.status = 'ok' GROUP BY ALL ORDER BY frames DESC, p.port, p.character""",
        """CREATE VIEW quarantine_reasons AS
           SELECT error_class, count(*) AS files, min(error) AS example_error, min(path) AS example_path
           FROM catalog WHERE status = 'quarantined' GROUP BY ALL ORDER BY files DESC, error_class""",
    ]


def build_views(data_root: str | Path) -> Path:
    """(Re)create `exphil.duckdb` with the views over the data root's Parquet files."""
    paths = DataPaths(Path(data_root))
    if not paths.catalog.exists():
        raise UserError(f"no catalog at {paths.catalog}; run `exphil ingest` first")
    has_frames = _has_frame_tables(paths)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-exphil.duckdb.", dir=paths.root)
    os.close(fd)
    os.unlink(tmp_name)  # DuckDB wants to create the file itself
    tmp = Path(tmp_name)
    try:
        con = duckdb.connect(str(tmp))
        try:
            meta = {
                "views_version": str(VIEWS_VERSION),
                "data_root": str(paths.root),
                "frames_view": "parquet" if has_frames else "empty",
            }
            con.execute(_table_sql("exphil_meta", ("key", "value"), meta))
            con.execute(_table_sql("character_names", ("id", "name"), character_names()))
            con.execute(_table_sql("stage_names", ("id", "name"), stage_names()))
            for statement in _view_statements(paths, has_frames):
                con.execute(statement)
        finally:
            con.close()
        os.replace(tmp, paths.duckdb)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(str(tmp) + ".wal").unlink()
    return paths.duckdb


def views_current(data_root: str | Path) -> bool:
    """True if `exphil.duckdb` exists with this VIEWS_VERSION, this root, and a bound frames view."""
    paths = DataPaths(Path(data_root))
    if not paths.duckdb.exists():
        return False
    try:
        con = duckdb.connect(str(paths.duckdb), read_only=True)
    except duckdb.Error:
        return False
    try:
        meta = dict(con.execute("SELECT key, value FROM exphil_meta").fetchall())
    except duckdb.Error:
        return False
    finally:
        con.close()
    frames_ok = meta.get("frames_view") == "parquet" or not _has_frame_tables(paths)
    return (
        meta.get("views_version") == str(VIEWS_VERSION)
        and meta.get("data_root") == str(paths.root)
        and frames_ok
    )


def connect(data_root: str | Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to the data root's views; rebuilds them if missing or stale."""
    paths = DataPaths(Path(data_root))
    if not views_current(paths.root):
        build_views(paths.root)
    return duckdb.connect(str(paths.duckdb), read_only=read_only)
