"""Parse one .slp file into a frame table (schema in frame_schema.py) and a ReplayInfo.

peppi-py returns one Arrow array per field; we put those arrays side by side
(zero-copy) and only gather rows when netplay rollbacks repeat a frame id.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import peppi_py
import polars as pl
import pyarrow as pa

from exphil_assets.replays.frame_schema import (
    FRAME_SCHEMA_VERSION,
    META_PORTS,
    META_ROLLBACK,
    META_SCHEMA_VERSION,
    PLAYER_FIELDS,
    ROLLBACK_CHOICES,
    arrow_schema,
    format_ports,
)

FRAMES_PER_SECOND = 60


@dataclass(frozen=True)
class PlayerInfo:
    """One player slot of the game start: port 1-4 and external character id."""

    port: int
    character: int
    type: str  # 'HUMAN' | 'CPU' | 'DEMO'
    name: str | None
    code: str | None


@dataclass(frozen=True)
class ReplayInfo:
    """What the catalog records about a parsed replay."""

    slippi_version: str
    stage: int
    players: tuple[PlayerInfo, ...]
    frame_rows: int  # frame events in the file, rollbacks included
    frames: int  # unique frame ids = rows of the frame table
    first_frame: int | None
    last_frame: int | None
    duration_s: float
    end_method: str | None

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(p.port for p in self.players)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _compile_source(source: str) -> tuple[str | int, ...]:
    """`"post.state_flags[0]"` -> `("post", "state_flags", 0)`."""
    steps: list[str | int] = []
    for part in source.split("."):
        match = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        if match:
            steps.extend([match.group(1), int(match.group(2))])
        else:
            steps.append(part)
    return tuple(steps)


# (source path, arrow type) per field, resolved once: this loop runs for every player of every file.
_SOURCES = tuple((_compile_source(f.source), f.arrow_type) for f in PLAYER_FIELDS)


def _leaf(data: Any, steps: tuple[str | int, ...]) -> pa.Array | None:
    """Follow a compiled source path into peppi's dataclasses; None if a step is absent."""
    node = data
    for step in steps:
        if node is None:
            return None
        node = node[step] if isinstance(step, int) else getattr(node, step)
    return node


def _player_arrays(data: Any, n_rows: int) -> list[pa.Array]:
    """The PLAYER_FIELDS arrays of one peppi `Data` (or all nulls when it is None)."""
    arrays = []
    for steps, arrow_type in _SOURCES:
        arr = _leaf(data, steps)
        if arr is None:
            arr = pa.nulls(n_rows, arrow_type)
        elif arr.type != arrow_type:
            arr = arr.cast(arrow_type)
        arrays.append(arr)
    return arrays


def _dedup_indices(ids: np.ndarray, rollback: str) -> np.ndarray | None:
    """Row indices keeping one row per frame id, in increasing id order; None if already so."""
    if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return None
    if rollback == "first":
        _, first = np.unique(ids, return_index=True)
        return first
    _, from_end = np.unique(ids[::-1], return_index=True)
    return len(ids) - 1 - from_end


def _netplay_code(code: str | None) -> str | None:
    # peppi decodes Shift-JIS '#' as the full-width '＃'; Slippi shows codes as 'ABC#123'.
    return code.replace("＃", "#") if code else None


def _player_info(player: Any) -> PlayerInfo:
    netplay = player.netplay
    name = (netplay.name if netplay else None) or player.name_tag or None
    return PlayerInfo(
        port=int(player.port) + 1,
        character=int(player.character),
        type=player.type.name,
        name=name,
        code=_netplay_code(netplay.code if netplay else None),
    )


def read_frame_arrow(path: str | Path, rollback: str = "first") -> tuple[pa.Table, ReplayInfo]:
    """Parse `path` into an Arrow frame table (with schema metadata) and its ReplayInfo.

    Raises whatever peppi raises on a bad file, including `pyo3_runtime.PanicException`
    (a BaseException): the caller decides what to quarantine.
    """
    if rollback not in ROLLBACK_CHOICES:
        raise ValueError(f"rollback must be one of {ROLLBACK_CHOICES}, got {rollback!r}")
    game = peppi_py.read_slippi(str(path))
    start = game.start
    frames = game.frames
    players = tuple(_player_info(p) for p in start.players)
    if frames is None:
        raise ValueError(f"{path}: peppi returned no frames")
    if len(frames.ports) != len(players):
        raise ValueError(
            f"{path}: {len(frames.ports)} port columns in the frames but {len(players)} players at game start"
        )
    ports = tuple(p.port for p in players)

    ids_arr = frames.id
    n_rows = len(ids_arr)
    columns: list[pa.Array] = [ids_arr]
    nana_ports = []
    for port, port_data in zip(ports, frames.ports, strict=True):
        columns.extend(_player_arrays(port_data.leader, n_rows))
        # peppi has a follower only for Ice Climbers; other ports get no Nana columns.
        if port_data.follower is not None:
            columns.extend(_player_arrays(port_data.follower, n_rows))
            nana_ports.append(port)
    # Columns without nulls are stored as Parquet REQUIRED: it writes ~40% faster, and
    # readers see no difference (every column may hold nulls in other tables).
    schema = pa.schema(
        [
            f.with_nullable(arr.null_count > 0)
            for f, arr in zip(arrow_schema(ports, nana_ports), columns, strict=True)
        ],
        metadata={
            META_SCHEMA_VERSION: str(FRAME_SCHEMA_VERSION),
            META_PORTS: format_ports(ports),
            META_ROLLBACK: rollback,
        },
    )
    table = pa.Table.from_arrays(columns, schema=schema)

    ids = ids_arr.to_numpy(zero_copy_only=False)
    keep = _dedup_indices(ids, rollback)
    if keep is not None:
        table = table.take(pa.array(keep))
        ids = ids[keep]

    n_frames = len(ids)
    info = ReplayInfo(
        slippi_version=".".join(str(v) for v in start.slippi.version),
        stage=int(start.stage),
        players=players,
        frame_rows=n_rows,
        frames=n_frames,
        first_frame=int(ids[0]) if n_frames else None,
        last_frame=int(ids[-1]) if n_frames else None,
        duration_s=round(n_frames / FRAMES_PER_SECOND, 3),
        end_method=game.end.method.name if game.end is not None else None,
    )
    return table, info


def read_frame_table(path: str | Path, rollback: str = "first") -> tuple[pl.DataFrame, ReplayInfo]:
    """Parse `path` into a polars frame table (one row per frame id) and its ReplayInfo."""
    table, info = read_frame_arrow(path, rollback)
    return pl.from_arrow(table), info  # type: ignore[return-value]
