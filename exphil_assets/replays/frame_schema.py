"""The frame-table schema (version 1): one row per frame id, columns per port.

Documented for users in docs/frame_schema.md; the contract is ARCHITECTURE.md.
Each field names the peppi-py 0.8.6 attribute path it comes from, so the parser
is a loop over this table and a new field is a one-line change here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

# Bump when a column is added, removed, renamed or changes meaning.
FRAME_SCHEMA_VERSION = 1

FRAME_COLUMN = "frame"

# Parquet key-value metadata keys written into every frame table.
META_SCHEMA_VERSION = "exphil.frame_schema_version"
META_SHA256 = "exphil.sha256"
META_PORTS = "exphil.ports"
META_ROLLBACK = "exphil.rollback"

ROLLBACK_CHOICES = ("first", "last")

_ARROW_TYPES: dict[str, pa.DataType] = {
    "int32": pa.int32(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "float32": pa.float32(),
}

_POLARS_TYPES: dict[str, pl.DataType] = {
    "int32": pl.Int32(),
    "uint8": pl.UInt8(),
    "uint16": pl.UInt16(),
    "uint32": pl.UInt32(),
    "float32": pl.Float32(),
}


@dataclass(frozen=True)
class FrameField:
    """One per-player column: its name suffix, dtype and peppi source path."""

    name: str
    dtype: str  # key of _ARROW_TYPES, also a valid numpy / polars dtype name
    source: str  # dotted path under peppi's `Data` (`pre.` / `post.`); `[i]` indexes a tuple

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.dtype]

    @property
    def polars_type(self) -> pl.DataType:
        return _POLARS_TYPES[self.dtype]


# Per-player fields, in column order. Fields absent from old replay versions are null.
PLAYER_FIELDS: tuple[FrameField, ...] = (
    # pre-frame: the controller inputs the game consumed for this frame
    FrameField("buttons_physical", "uint16", "pre.buttons_physical"),
    FrameField("buttons", "uint32", "pre.buttons"),
    FrameField("joystick_x", "float32", "pre.joystick.x"),
    FrameField("joystick_y", "float32", "pre.joystick.y"),
    FrameField("cstick_x", "float32", "pre.cstick.x"),
    FrameField("cstick_y", "float32", "pre.cstick.y"),
    FrameField("trigger_l", "float32", "pre.triggers_physical.l"),
    FrameField("trigger_r", "float32", "pre.triggers_physical.r"),
    FrameField("trigger", "float32", "pre.triggers"),
    # post-frame: the game state after this frame
    FrameField("character", "uint8", "post.character"),
    FrameField("action_state", "uint16", "post.state"),
    FrameField("x", "float32", "post.position.x"),
    FrameField("y", "float32", "post.position.y"),
    FrameField("facing", "float32", "post.direction"),
    FrameField("percent", "float32", "post.percent"),
    FrameField("shield", "float32", "post.shield"),
    FrameField("state_age", "float32", "post.state_age"),
    FrameField("stocks", "uint8", "post.stocks"),
    FrameField("jumps", "uint8", "post.jumps"),
    FrameField("airborne", "uint8", "post.airborne"),
    FrameField("ground", "uint16", "post.ground"),
    FrameField("hitstun", "float32", "post.misc_as"),
    FrameField("hitlag", "float32", "post.hitlag"),
    FrameField("vel_self_x_air", "float32", "post.velocities.self_x_air"),
    FrameField("vel_self_y", "float32", "post.velocities.self_y"),
    FrameField("vel_knockback_x", "float32", "post.velocities.knockback_x"),
    FrameField("vel_knockback_y", "float32", "post.velocities.knockback_y"),
    FrameField("vel_self_x_ground", "float32", "post.velocities.self_x_ground"),
    FrameField("state_flags_1", "uint8", "post.state_flags[0]"),
    FrameField("state_flags_2", "uint8", "post.state_flags[1]"),
    FrameField("state_flags_3", "uint8", "post.state_flags[2]"),
    FrameField("state_flags_4", "uint8", "post.state_flags[3]"),
    FrameField("state_flags_5", "uint8", "post.state_flags[4]"),
    FrameField("l_cancel", "uint8", "post.l_cancel"),
    FrameField("hurtbox_state", "uint8", "post.hurtbox_state"),
    FrameField("last_attack_landed", "uint8", "post.last_attack_landed"),
    FrameField("combo_count", "uint8", "post.combo_count"),
    FrameField("last_hit_by", "uint8", "post.last_hit_by"),
)


def leader_prefix(port: int) -> str:
    """Column prefix of the player (leader) on `port` (1-4)."""
    return f"p{port}_"


def nana_prefix(port: int) -> str:
    """Column prefix of Ice Climbers' follower (Nana) on `port` (1-4)."""
    return f"p{port}_nana_"


def _prefixes(ports: Sequence[int], nana_ports: Sequence[int]) -> list[str]:
    prefixes = []
    for port in ports:
        prefixes.append(leader_prefix(port))
        if port in nana_ports:
            prefixes.append(nana_prefix(port))
    return prefixes


def frame_columns(ports: Sequence[int], nana_ports: Sequence[int] = ()) -> list[str]:
    """Column names of a frame table for these ports (Nana blocks for `nana_ports`), in order."""
    names = [FRAME_COLUMN]
    for prefix in _prefixes(ports, nana_ports):
        names.extend(prefix + f.name for f in PLAYER_FIELDS)
    return names


def arrow_schema(ports: Sequence[int], nana_ports: Sequence[int] = ()) -> pa.Schema:
    """The Arrow schema (without key-value metadata) of a frame table."""
    return _arrow_schema(tuple(ports), tuple(nana_ports))


@functools.lru_cache(maxsize=64)  # a few port layouts cover nearly every replay
def _arrow_schema(ports: tuple[int, ...], nana_ports: tuple[int, ...]) -> pa.Schema:
    fields = [pa.field(FRAME_COLUMN, pa.int32(), nullable=False)]
    for prefix in _prefixes(ports, nana_ports):
        fields.extend(pa.field(prefix + f.name, f.arrow_type) for f in PLAYER_FIELDS)
    return pa.schema(fields)


def with_all_nana_columns(frames: pl.DataFrame, ports: Sequence[int]) -> pl.DataFrame:
    """Add all-null Nana columns for ports without them, for code that wants a uniform layout.

    Frame tables store Nana columns only for Ice Climbers ports (see docs/frame_schema.md).
    """
    missing = [
        pl.lit(None, dtype=f.polars_type).alias(nana_prefix(port) + f.name)
        for port in ports
        if nana_prefix(port) + PLAYER_FIELDS[0].name not in frames.columns
        for f in PLAYER_FIELDS
    ]
    return frames.with_columns(missing) if missing else frames


def format_ports(ports: Sequence[int]) -> str:
    """`(2, 4)` -> `"2,4"`, the value of the `exphil.ports` metadata key."""
    return ",".join(str(p) for p in ports)


def parse_ports(value: str) -> tuple[int, ...]:
    return tuple(int(p) for p in value.split(",") if p)
