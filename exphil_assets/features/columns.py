"""Read one frame-table column from any producer as float64, nulls as NaN.

Producers (ARCHITECTURE.md "One feature function"): a polars DataFrame (nulls), a
mapping of numpy arrays (NaN or a numpy masked array marks a null; an absent key
is a column of nulls). Reading everything as float64 keeps one code path, and is
exact: every frame-table value (float32, uint8-32) is exactly a float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

Columns = Mapping[str, Any] | pl.DataFrame


def num_rows(columns: Columns, probe: str) -> int:
    """Rows in `columns`, read from column `probe` (which must be present)."""
    if isinstance(columns, pl.DataFrame):
        return columns.height
    if probe not in columns:
        raise KeyError(f"column {probe!r} is missing from the frame columns")
    return int(np.shape(columns[probe])[0]) if np.ndim(columns[probe]) else 1


def column_f64(columns: Columns, name: str, rows: int) -> np.ndarray:
    """Column `name` as float64 `[rows]`; NaN where null or absent."""
    if isinstance(columns, pl.DataFrame):
        if name not in columns.columns:
            return np.full(rows, np.nan)
        return columns.get_column(name).cast(pl.Float64).to_numpy()
    if name not in columns:
        return np.full(rows, np.nan)
    col = columns[name]
    if isinstance(col, pl.Series):
        return col.cast(pl.Float64).to_numpy()
    values = np.ma.filled(np.ma.asarray(col, dtype=np.float64), np.nan)
    return np.broadcast_to(values, (rows,)).astype(np.float64, copy=False)
