"""Checks on written frame tables: the invariants every reader relies on.

- the table says it has the current schema version;
- frame ids are unique and increasing (rollback dedup worked);
- player positions are finite where present.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from exphil_assets.paths import DataPaths
from exphil_assets.replays.catalog import STATUS_OK, read_catalog
from exphil_assets.replays.frame_schema import (
    FRAME_COLUMN,
    FRAME_SCHEMA_VERSION,
    META_SCHEMA_VERSION,
    META_SHA256,
    leader_prefix,
    nana_prefix,
)


@dataclass
class FrameTableReport:
    """Tables checked and the problems found, as (frame table path, problem)."""

    checked: int = 0
    frames: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def frame_table_problems(path: str | Path) -> tuple[int, list[str]]:
    """(rows, problems) of one frame table; no problems means it meets the schema's invariants."""
    problems: list[str] = []
    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as exc:
        return 0, [f"unreadable: {exc}"]
    meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    version = meta.get(META_SCHEMA_VERSION)
    if version != str(FRAME_SCHEMA_VERSION):
        problems.append(f"schema version {version!r}, expected {FRAME_SCHEMA_VERSION}")
    if Path(path).stem != meta.get(META_SHA256):
        problems.append(f"sha256 metadata {meta.get(META_SHA256)!r} does not match the file name")
    position_columns = [
        prefix + axis
        for port in range(1, 5)
        for prefix in (leader_prefix(port), nana_prefix(port))
        for axis in ("x", "y")
        if prefix + axis in schema.names
    ]
    frames = pl.read_parquet(path, columns=[FRAME_COLUMN, *position_columns])
    ids = frames.get_column(FRAME_COLUMN).to_numpy()
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        problems.append("frame ids are not unique and increasing")
    for name in position_columns:
        values = frames.get_column(name).drop_nulls().to_numpy()
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            problems.append(f"{bad} non-finite values in {name}")
    return frames.height, problems


def check_frame_tables(
    data_root: str | Path, replay_paths: Iterable[str | Path] | None = None
) -> FrameTableReport:
    """Check the frame tables of these replay files (default: every ok replay in the catalog)."""
    paths = DataPaths(Path(data_root))
    catalog = read_catalog(paths.root).filter(pl.col("status") == STATUS_OK)
    if replay_paths is not None:
        wanted = [str(Path(p).expanduser().resolve()) for p in replay_paths]
        catalog = catalog.filter(pl.col("path").is_in(wanted))
    report = FrameTableReport()
    for sha256 in catalog.get_column("sha256").unique().sort().to_list():
        table = paths.frame_table(sha256)
        if not table.exists():
            report.problems.append((str(table), "missing"))
            continue
        rows, problems = frame_table_problems(table)
        report.checked += 1
        report.frames += rows
        report.problems.extend((str(table), p) for p in problems)
    return report
