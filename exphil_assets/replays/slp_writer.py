"""Write a game as a Slippi replay (.slp, version 3.18.0) that peppi-py and libmelee read back.

A `GameRecord` holds the game as frame-table columns (ARCHITECTURE.md names: `frame`,
`p1_x`, `p2_buttons_physical`, ...; arrays [T], one row per frame) plus the stage,
the end method and the winner. `write_slp(record, path)` writes it atomically.

Layout (facts and pitfalls in ../shared/reference/slp-writing-notes.md):
- a UBJSON object `{"raw": [$U#l <u32 length> <events>], "metadata": {...}}`, big-endian;
- events: Event Payloads, Game Start, then per frame Frame Start, one Pre-Frame per
  port, one Post-Frame per port, Frame Bookend; then Game End;
- frame ids start where the record starts (the simulator starts at -123) and go up by 1;
- metadata uses only what peppi's UBJSON reader accepts: strings, int32 (`l`), objects.

Alignment (as in real replays and the frame table): the pre-frame of frame f holds
the inputs the game consumed to go from post-frame f-1 to post-frame f, i.e. row f's
pre columns are the inputs that produced row f's post columns. The state fields a
pre-frame also carries (action state, position, facing, percent) are the state
before those inputs: the previous frame's post values (frame 0 of the record reuses
its own).

Speed: every frame has the same size, so all frames are one numpy structured array
with big-endian fields at fixed offsets, filled column by column and written with one
`tobytes()` (an 18,000-frame game takes tens of milliseconds).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exphil_assets.atomic import atomic_path
from exphil_assets.errors import UserError

SLIPPI_VERSION = (3, 18, 0)

# Event command bytes and payload sizes at 3.18.0 (sizes exclude the command byte).
CMD_PAYLOADS, CMD_GAME_START, CMD_PRE, CMD_POST, CMD_GAME_END = 0x35, 0x36, 0x37, 0x38, 0x39
CMD_FRAME_START, CMD_BOOKEND = 0x3A, 0x3C
PAYLOAD_SIZES: dict[int, int] = {
    CMD_GAME_START: 760,
    CMD_PRE: 66,
    CMD_POST: 84,
    CMD_GAME_END: 6,
    CMD_FRAME_START: 12,
    CMD_BOOKEND: 8,
}

# Slippi Game End methods peppi accepts.
END_METHODS = {0: "UNRESOLVED", 1: "TIME", 2: "GAME", 3: "RESOLVED", 7: "NO_CONTEST"}
PLAYER_TYPES = {0: "HUMAN", 1: "CPU", 2: "DEMO"}

# Internal (in-game, post-frame) character id -> external (character select, Game Start) id.
INTERNAL_TO_EXTERNAL: dict[int, int] = {
    0: 8, 1: 2, 2: 0, 3: 1, 4: 4, 5: 5, 6: 6, 7: 19, 8: 11, 9: 12, 10: 14, 12: 13, 13: 16,
    14: 17, 15: 15, 16: 10, 17: 7, 18: 9, 19: 18, 20: 21, 21: 22, 22: 20, 23: 24, 24: 3,
    25: 25, 26: 23,
}  # fmt: skip

# Game Start bytes 0x5-0x64 from a real 3.18 game (stage and timer are overwritten).
_GAME_INFO_TEMPLATE = bytes.fromhex(
    "3201864cc3000000000000ffff6e0002000001e0000000000000000000000000ffffffffffffffff"
    "000000003f8000003f8000003f800000"
) + bytes(48)
_PLAYER_ACTIVE = bytes.fromhex("0000040000ff000009007800c000040100000000000000003f8000003f8000003f800000")
_PLAYER_EMPTY = bytes.fromhex("1a03040000ff0000090078004000040100000000000000003f8000003f8000003f800000")
# Slots 5 and 6 (never used in VS) as real games write them.
_PLAYER_UNUSED = bytes.fromhex("2103040000ff0000090078004000040000000000000000003f8000003f8000003f800000")

# Per-event field layouts: (offset from the command byte, frame-table field or internal name, dtype).
# Names starting with "_" are not frame-table columns; the writer fills them itself.
_FRAME_START_FIELDS = ((0x1, "_frame", ">i4"), (0x5, "_seed", ">u4"), (0x9, "_scene_frame", ">u4"))
_PRE_FIELDS = (
    (0x1, "_frame", ">i4"), (0x5, "_port", "u1"), (0x6, "_follower", "u1"), (0x7, "_seed", ">u4"),
    (0xB, "_prev_action_state", ">u2"), (0xD, "_prev_x", ">f4"), (0x11, "_prev_y", ">f4"),
    (0x15, "_prev_facing", ">f4"), (0x19, "joystick_x", ">f4"), (0x1D, "joystick_y", ">f4"),
    (0x21, "cstick_x", ">f4"), (0x25, "cstick_y", ">f4"), (0x29, "trigger", ">f4"),
    (0x2D, "buttons", ">u4"), (0x31, "buttons_physical", ">u2"), (0x33, "trigger_l", ">f4"),
    (0x37, "trigger_r", ">f4"), (0x3B, "_raw_x", "i1"), (0x3C, "_prev_percent", ">f4"),
    (0x40, "_raw_y", "i1"), (0x41, "_raw_cx", "i1"), (0x42, "_raw_cy", "i1"),
)  # fmt: skip
_POST_FIELDS = (
    (0x1, "_frame", ">i4"), (0x5, "_port", "u1"), (0x6, "_follower", "u1"), (0x7, "character", "u1"),
    (0x8, "action_state", ">u2"), (0xA, "x", ">f4"), (0xE, "y", ">f4"), (0x12, "facing", ">f4"),
    (0x16, "percent", ">f4"), (0x1A, "shield", ">f4"), (0x1E, "last_attack_landed", "u1"),
    (0x1F, "combo_count", "u1"), (0x20, "last_hit_by", "u1"), (0x21, "stocks", "u1"),
    (0x22, "state_age", ">f4"), (0x26, "state_flags_1", "u1"), (0x27, "state_flags_2", "u1"),
    (0x28, "state_flags_3", "u1"), (0x29, "state_flags_4", "u1"), (0x2A, "state_flags_5", "u1"),
    (0x2B, "hitstun", ">f4"), (0x2F, "airborne", "u1"), (0x30, "ground", ">u2"), (0x32, "jumps", "u1"),
    (0x33, "l_cancel", "u1"), (0x34, "hurtbox_state", "u1"), (0x35, "vel_self_x_air", ">f4"),
    (0x39, "vel_self_y", ">f4"), (0x3D, "vel_knockback_x", ">f4"), (0x41, "vel_knockback_y", ">f4"),
    (0x45, "vel_self_x_ground", ">f4"), (0x49, "hitlag", ">f4"), (0x4D, "_animation", ">u4"),
    (0x51, "_hit_by_instance", ">u2"), (0x53, "_instance", ">u2"),
)  # fmt: skip
_BOOKEND_FIELDS = ((0x1, "_frame", ">i4"), (0x5, "_finalized", ">i4"))

# Frame-table fields a record must hold for every port, with their ranges.
_FLOAT_FIELDS = (
    "joystick_x", "joystick_y", "cstick_x", "cstick_y", "trigger", "trigger_l", "trigger_r",
    "x", "y", "facing", "percent", "shield", "state_age", "hitstun", "hitlag",
    "vel_self_x_air", "vel_self_y", "vel_knockback_x", "vel_knockback_y", "vel_self_x_ground",
)  # fmt: skip
_RANGES = {
    "joystick_x": (-1.0, 1.0), "joystick_y": (-1.0, 1.0), "cstick_x": (-1.0, 1.0), "cstick_y": (-1.0, 1.0),
    "trigger": (0.0, 1.0), "trigger_l": (0.0, 1.0), "trigger_r": (0.0, 1.0),
}  # fmt: skip
_INT_FIELDS = {
    "buttons_physical": (0, 0xFFFF), "buttons": (0, 0xFFFFFFFF), "character": (0, 0xFF),
    "action_state": (0, 0xFFFF), "stocks": (0, 0xFF), "jumps": (0, 0xFF), "airborne": (0, 1),
    "ground": (0, 0xFFFF), "state_flags_1": (0, 0xFF), "state_flags_2": (0, 0xFF),
    "state_flags_3": (0, 0xFF), "state_flags_4": (0, 0xFF), "state_flags_5": (0, 0xFF),
    "l_cancel": (0, 0xFF), "hurtbox_state": (0, 0xFF), "last_attack_landed": (0, 0xFF),
    "combo_count": (0, 0xFF), "last_hit_by": (0, 0xFF),
}  # fmt: skip
RECORD_FIELDS: tuple[str, ...] = _FLOAT_FIELDS + tuple(_INT_FIELDS)


@dataclass
class GameRecord:
    """One game as frame-table columns plus what Game Start, Game End and metadata need.

    `columns` maps `frame` and `p{port}_{field}` (for every field of RECORD_FIELDS and
    every port of `ports`) to arrays [T]; frame ids go up by exactly 1.
    """

    columns: dict[str, np.ndarray]
    ports: tuple[int, ...] = (1, 2)
    stage: int = 32
    end_method: int = 2
    winner_port: int | None = None
    """port that won (placement 0; the others get 1); None: no placements (a draw or unresolved)"""
    starting_stocks: int = 4
    timer_seconds: int = 480
    player_type: int = 0
    """0 human, 1 CPU, 2 demo, for every port (dataset filters keep human games)"""
    random_seed: int = 0
    frame_seeds: np.ndarray | None = None
    """per-frame random seed values (uint32 [T]); zeros when None"""
    start_at: str = "2026-01-01T00:00:00Z"
    played_on: str = "exphil-sim"
    names: dict[int, str] = field(default_factory=dict)
    """optional netplay display names by port, written to metadata"""

    @property
    def num_frames(self) -> int:
        return int(np.asarray(self.columns.get("frame", ())).shape[0])

    @classmethod
    def from_frames(cls, frames: Sequence[Mapping[str, np.ndarray]], game: int = 0, **kwargs) -> GameRecord:
        """Stack per-frame column dicts (e.g. `MeleeSim.state_columns()` after each step) for one game."""
        if not frames:
            raise UserError("empty game: no frames to record")
        names = [k for k in frames[0] if k == "frame" or k[:1] == "p" and "_" in k]
        columns = {k: np.array([np.asarray(f[k])[game] for f in frames]) for k in names}
        return cls(columns=columns, **kwargs)


def write_slp(record: GameRecord, path: str | Path) -> Path:
    """Validate `record` and write it as a .slp file at `path` (atomically). Returns the path."""
    data = encode_slp(record)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def encode_slp(record: GameRecord) -> bytes:
    """The bytes of the .slp file for `record` (raises UserError on invalid input)."""
    cols, n = _validated_columns(record)
    frames = np.asarray(cols["frame"], np.int64)
    raw = b"".join(
        (
            _event_payloads(),
            _game_start(record, cols),
            _frames(record, cols, frames).tobytes(),
            _game_end(record),
        )
    )
    meta = _metadata(record, cols, frames)
    header = b"{U\x03raw[$U#l" + struct.pack(">I", len(raw))
    return header + raw + b"U\x08metadata" + meta + b"}"


# ---------------------------------------------------------------- validation
def _validated_columns(record: GameRecord) -> tuple[dict[str, np.ndarray], int]:
    cols = record.columns
    if "frame" not in cols:
        raise UserError("GameRecord has no 'frame' column")
    frames = np.asarray(cols["frame"])
    n = frames.shape[0] if frames.ndim == 1 else 0
    if n == 0:
        raise UserError("empty game: the record has no frames")
    if not np.issubdtype(frames.dtype, np.integer):
        raise UserError(f"'frame' must hold integers, got {frames.dtype}")
    steps = np.diff(frames.astype(np.int64))
    if (steps != 1).any():
        k = int(np.argmax(steps != 1)) + 1
        raise UserError(
            f"frame ids must go up by 1: frame {int(frames[k - 1])} is followed by {int(frames[k])}"
        )
    if (
        not record.ports
        or len(set(record.ports)) != len(record.ports)
        or not all(1 <= p <= 4 for p in record.ports)
    ):
        raise UserError(f"ports must be distinct numbers 1-4, got {record.ports}")
    if record.end_method not in END_METHODS:
        raise UserError(f"end_method {record.end_method} is not one of {sorted(END_METHODS)}")
    if record.player_type not in PLAYER_TYPES:
        raise UserError(f"player_type {record.player_type} is not one of {sorted(PLAYER_TYPES)}")
    if not 0 <= record.stage <= 0xFFFF:
        raise UserError(f"stage {record.stage} is not a valid external stage id")
    if record.winner_port is not None and record.winner_port not in record.ports:
        raise UserError(f"winner_port {record.winner_port} is not one of the ports {record.ports}")
    if record.frame_seeds is not None and np.asarray(record.frame_seeds).shape != (n,):
        raise UserError(f"frame_seeds has shape {np.asarray(record.frame_seeds).shape}, expected ({n},)")
    out: dict[str, np.ndarray] = {"frame": frames}
    for port in record.ports:
        for name in RECORD_FIELDS:
            key = f"p{port}_{name}"
            if key not in cols:
                raise UserError(f"GameRecord is missing column {key!r}")
            arr = np.asarray(cols[key])
            if arr.shape != (n,):
                raise UserError(f"column {key!r} has {arr.shape[0] if arr.ndim else 0} rows, 'frame' has {n}")
            if name in _INT_FIELDS:
                lo, hi = _INT_FIELDS[name]
                bad = ~np.isfinite(arr) if arr.dtype.kind == "f" else np.zeros(n, bool)
                bad |= (arr < lo) | (arr > hi)
                _refuse(bad, key, arr, frames, f"outside {lo}-{hi}")
            else:
                arr = arr.astype(np.float32)
                _refuse(~np.isfinite(arr), key, arr, frames, "not a finite number")
                if name in _RANGES:
                    lo, hi = _RANGES[name]
                    _refuse((arr < lo) | (arr > hi), key, arr, frames, f"outside [{lo}, {hi}]")
            out[key] = arr
        chars = out[f"p{port}_character"]
        unknown = ~np.isin(chars, list(INTERNAL_TO_EXTERNAL))
        _refuse(unknown, f"p{port}_character", chars, frames, "not a known internal character id")
    return out, n


def _refuse(bad: np.ndarray, key: str, arr: np.ndarray, frames: np.ndarray, why: str) -> None:
    if bad.any():
        k = int(np.argmax(bad))
        raise UserError(
            f"{key} is {arr[k].item()!r} at frame {int(frames[k])}: {why}; refusing to write the replay"
        )


# ---------------------------------------------------------------- events
def _event_payloads() -> bytes:
    body = b"".join(struct.pack(">BH", cmd, size) for cmd, size in PAYLOAD_SIZES.items())
    return bytes([CMD_PAYLOADS, len(body) + 1]) + body


def _game_start(record: GameRecord, cols: Mapping[str, np.ndarray]) -> bytes:
    b = bytearray(1 + PAYLOAD_SIZES[CMD_GAME_START])
    b[0] = CMD_GAME_START
    b[1:5] = bytes((*SLIPPI_VERSION, 0))
    b[0x5 : 0x5 + len(_GAME_INFO_TEMPLATE)] = _GAME_INFO_TEMPLATE
    struct.pack_into(">H", b, 0x13, record.stage)
    struct.pack_into(">I", b, 0x15, record.timer_seconds)
    for i in range(6):
        off = 0x65 + 0x24 * i
        port = i + 1
        if port in record.ports:
            block = bytearray(_PLAYER_ACTIVE)
            block[0] = INTERNAL_TO_EXTERNAL[int(cols[f"p{port}_character"][0])]
            block[1] = record.player_type
            block[2] = record.starting_stocks
        else:
            block = bytearray(_PLAYER_EMPTY if i < 4 else _PLAYER_UNUSED)
        b[off : off + 0x24] = block
    struct.pack_into(">I", b, 0x13D, record.random_seed & 0xFFFFFFFF)
    for i in range(4):  # UCF dashback and shield drop on for every slot, as real netplay games write
        struct.pack_into(">II", b, 0x141 + 8 * i, 1, 1)
    b[0x1A2] = 1  # frozen Pokemon Stadium (the netplay default)
    b[0x1A3], b[0x1A4] = 2, 2  # scene: VS mode
    b[0x2BD] = 1  # language: English
    return bytes(b)


def _game_end(record: GameRecord) -> bytes:
    placements = []
    for port in range(1, 5):
        if port not in record.ports or record.winner_port is None:
            placements.append(-1)
        else:
            placements.append(0 if port == record.winner_port else 1)
    return struct.pack(">BBb4b", CMD_GAME_END, record.end_method, -1, *placements)


def _struct_dtype(layout: Sequence[tuple[str, int, str]], itemsize: int) -> np.dtype:
    names, formats, offsets = zip(*((n, f, o) for n, o, f in layout), strict=True)
    return np.dtype(
        {"names": list(names), "formats": list(formats), "offsets": list(offsets), "itemsize": itemsize}
    )


def _frame_layout(ports: Sequence[int]) -> tuple[np.dtype, dict[str, int]]:
    """The fixed layout of one frame: Frame Start, Pre per port, Post per port, Bookend."""
    layout: list[tuple[str, int, str]] = []
    commands: dict[str, int] = {}
    pos = 0

    def add(prefix: str, cmd: int, fields) -> None:
        nonlocal pos
        layout.append((f"{prefix}cmd", pos, "u1"))
        commands[f"{prefix}cmd"] = cmd
        layout.extend((f"{prefix}{name}", pos + off, fmt) for off, name, fmt in fields)
        pos += 1 + PAYLOAD_SIZES[cmd]

    add("fs.", CMD_FRAME_START, _FRAME_START_FIELDS)
    for port in ports:
        add(f"pre{port}.", CMD_PRE, _PRE_FIELDS)
    for port in ports:
        add(f"post{port}.", CMD_POST, _POST_FIELDS)
    add("be.", CMD_BOOKEND, _BOOKEND_FIELDS)
    return _struct_dtype(layout, pos), commands


def _raw_stick(v: np.ndarray) -> np.ndarray:
    return np.clip(np.round(v * 80.0), -128, 127).astype(np.int8)


def _previous(v: np.ndarray) -> np.ndarray:
    """The value one frame earlier (the first frame keeps its own)."""
    return np.concatenate([v[:1], v[:-1]])


def _frames(record: GameRecord, cols: Mapping[str, np.ndarray], frames: np.ndarray) -> np.ndarray:
    dtype, commands = _frame_layout(record.ports)
    out = np.zeros(frames.shape[0], dtype)
    for name, cmd in commands.items():
        out[name] = cmd
    seeds = (
        np.zeros(frames.shape[0], np.uint32) if record.frame_seeds is None else np.asarray(record.frame_seeds)
    )
    out["fs._frame"] = frames
    out["fs._seed"] = seeds
    out["fs._scene_frame"] = np.arange(frames.shape[0], dtype=np.uint32)
    out["be._frame"] = frames
    out["be._finalized"] = frames
    for port in record.ports:
        p = f"p{port}_"
        pre, post = f"pre{port}.", f"post{port}."
        for ev in (pre, post):
            out[ev + "_frame"] = frames
            out[ev + "_port"] = port - 1
        out[pre + "_seed"] = seeds
        out[pre + "_prev_action_state"] = _previous(cols[p + "action_state"])
        out[pre + "_prev_x"] = _previous(cols[p + "x"])
        out[pre + "_prev_y"] = _previous(cols[p + "y"])
        out[pre + "_prev_facing"] = _previous(cols[p + "facing"])
        out[pre + "_prev_percent"] = _previous(cols[p + "percent"])
        out[pre + "_raw_x"] = _raw_stick(cols[p + "joystick_x"])
        out[pre + "_raw_y"] = _raw_stick(cols[p + "joystick_y"])
        out[pre + "_raw_cx"] = _raw_stick(cols[p + "cstick_x"])
        out[pre + "_raw_cy"] = _raw_stick(cols[p + "cstick_y"])
        for _, name, _ in _PRE_FIELDS:
            if not name.startswith("_"):
                out[pre + name] = cols[p + name]
        for _, name, _ in _POST_FIELDS:
            if not name.startswith("_"):
                out[post + name] = cols[p + name]
        out[post + "_instance"] = port - 1
    return out


# ---------------------------------------------------------------- metadata (peppi-safe UBJSON)
def _ubjson_key(key: str) -> bytes:
    raw = key.encode("utf-8")
    if len(raw) > 255:
        raise UserError(f"metadata key {key[:40]!r}... is longer than 255 bytes")
    return b"U" + bytes([len(raw)]) + raw


def _ubjson_value(value) -> bytes:
    if isinstance(value, bool):
        raise TypeError("peppi's UBJSON reader has no booleans")
    if isinstance(value, int):
        return b"l" + struct.pack(">i", value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) > 255:
            raise UserError(f"metadata string {value[:40]!r}... is longer than 255 bytes")
        return b"SU" + bytes([len(raw)]) + raw
    if isinstance(value, dict):
        return b"{" + b"".join(_ubjson_key(str(k)) + _ubjson_value(v) for k, v in value.items()) + b"}"
    raise TypeError(f"metadata value of type {type(value).__name__} is not writable for peppi")


def _metadata(record: GameRecord, cols: Mapping[str, np.ndarray], frames: np.ndarray) -> bytes:
    players = {}
    for port in record.ports:
        chars, counts = np.unique(cols[f"p{port}_character"], return_counts=True)
        name = record.names.get(port)
        players[str(port - 1)] = {
            "names": {"netplay": name, "code": ""} if name else {},
            "characters": {str(int(c)): int(k) for c, k in zip(chars, counts, strict=True)},
        }
    meta = {
        "startAt": record.start_at,
        "lastFrame": int(frames[-1]),
        "players": players,
        "playedOn": record.played_on,
    }
    return _ubjson_value(meta)
