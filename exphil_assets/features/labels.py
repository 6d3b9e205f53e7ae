"""The label codec: controller inputs <-> classes, and back to controller values for play.

Labels are uint8 `[T, 13]` (ARCHITECTURE.md): 8 buttons (0/1) in BUTTON_NAMES order,
main x, main y, c x, c y (17 stick buckets, 8 = neutral) and shoulder (5 buckets).
`decode_*` is the exact inverse used at play time: decode(encode(v)) is within half a
bucket of v, and encode(decode(b)) == b for every class b.

Sticks are the game's *processed* values (0 inside Melee's deadzone, |v| < 0.2875), so
classes 7 and 9 (±0.125) never occur in replays, and classes 6 and 10 hold ±0.2875-0.3.
Their decoded ±0.25 falls inside the deadzone if sent as a raw stick position: a player
that wants those classes to move must account for the deadzone when it sends inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from exphil_assets.features.columns import Columns, column_f64, num_rows
from exphil_assets.features.constants import (
    BUTTON_MASKS,
    BUTTON_NAMES,
    LABEL_C_X,
    LABEL_C_Y,
    LABEL_DIM,
    LABEL_MAIN_X,
    LABEL_MAIN_Y,
    LABEL_SHOULDER,
    NUM_BUTTONS,
    SHOULDER_BUCKETS,
    STICK_BUCKETS,
    STICK_CENTER,
)

_STICK_STEPS = STICK_CENTER  # buckets on each side of neutral: 8 steps of 1/8
_SHOULDER_STEPS = SHOULDER_BUCKETS - 1  # 4 steps of 1/4 over [0, 1]


def _round_half_away(x: np.ndarray) -> np.ndarray:
    # Symmetric rounding: +0.5 and -0.5 go to +1 and -1 (np.rint would send both to 0).
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def encode_stick(value: Any) -> np.ndarray:
    """Stick value(s) in [-1, 1] -> bucket(s) 0..16, nearest bucket, 0.0 -> 8. NaN -> 8."""
    v = np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0)
    bucket = _round_half_away(np.clip(v, -1.0, 1.0) * _STICK_STEPS) + STICK_CENTER
    return bucket.astype(np.uint8)


def decode_stick(bucket: Any) -> np.ndarray:
    """Bucket(s) 0..16 -> stick value(s) in [-1, 1], the bucket centre."""
    b = np.asarray(bucket, dtype=np.float64)
    return ((b - STICK_CENTER) / _STICK_STEPS).astype(np.float32)


def encode_shoulder(value: Any) -> np.ndarray:
    """Analog shoulder value(s) in [0, 1] -> bucket(s) 0..4. NaN -> 0."""
    v = np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0)
    return np.floor(np.clip(v, 0.0, 1.0) * _SHOULDER_STEPS + 0.5).astype(np.uint8)


def decode_shoulder(bucket: Any) -> np.ndarray:
    """Bucket(s) 0..4 -> analog shoulder value(s) in [0, 1]."""
    return (np.asarray(bucket, dtype=np.float64) / _SHOULDER_STEPS).astype(np.float32)


def encode_buttons(physical: Any) -> np.ndarray:
    """Physical-buttons bitmask(s) -> uint8 `[..., 8]` 0/1 in BUTTON_NAMES order."""
    bits = np.nan_to_num(np.asarray(physical, dtype=np.float64), nan=0.0).astype(np.uint32)
    masks = np.asarray(BUTTON_MASKS, dtype=np.uint32)
    return ((bits[..., None] & masks) != 0).astype(np.uint8)


def buttons_to_mask(buttons: Any) -> np.ndarray:
    """uint8 `[..., 8]` 0/1 buttons -> physical-buttons bitmask(s) (uint16)."""
    b = np.asarray(buttons, dtype=np.uint32) != 0
    return (b * np.asarray(BUTTON_MASKS, dtype=np.uint32)).sum(axis=-1).astype(np.uint16)


def encode_labels(columns: Columns, prefix: str) -> np.ndarray:
    """The pre-frame inputs in `columns` of the player `prefix` (e.g. "p2_") -> uint8 `[T, 13]`.

    Row t of the result encodes row t's pre-frame columns. Pairing state t with the
    input of t+1 is the caller's job (features/dataset.py). Null inputs encode as neutral.
    """
    rows = num_rows(columns, prefix + "joystick_x")

    def col(name: str) -> np.ndarray:
        return column_f64(columns, prefix + name, rows)

    labels = np.empty((rows, LABEL_DIM), dtype=np.uint8)
    labels[:, :NUM_BUTTONS] = encode_buttons(col("buttons_physical"))
    labels[:, LABEL_MAIN_X] = encode_stick(col("joystick_x"))
    labels[:, LABEL_MAIN_Y] = encode_stick(col("joystick_y"))
    labels[:, LABEL_C_X] = encode_stick(col("cstick_x"))
    labels[:, LABEL_C_Y] = encode_stick(col("cstick_y"))
    # fmax ignores a NaN side: a missing trigger counts as unpressed.
    shoulder = np.fmax(col("trigger_l"), col("trigger_r"))
    labels[:, LABEL_SHOULDER] = encode_shoulder(shoulder)
    return labels


def decode_labels_to_floats(labels: np.ndarray) -> np.ndarray:
    """uint8 `[T, 13]` labels -> float32 `[T, 13]`: buttons 0/1, decoded sticks, decoded shoulder.

    The previous-action feature block (state.py) uses this encoding.
    """
    labels = np.asarray(labels)
    out = np.empty(labels.shape, dtype=np.float32)
    out[..., :NUM_BUTTONS] = labels[..., :NUM_BUTTONS] != 0
    out[..., LABEL_MAIN_X : LABEL_C_Y + 1] = decode_stick(labels[..., LABEL_MAIN_X : LABEL_C_Y + 1])
    out[..., LABEL_SHOULDER] = decode_shoulder(labels[..., LABEL_SHOULDER])
    return out


def mirror_labels(labels: np.ndarray) -> np.ndarray:
    """Labels of the left-right mirrored game: stick x classes flip around the centre."""
    out = np.array(labels, copy=True)
    for col in (LABEL_MAIN_X, LABEL_C_X):
        out[..., col] = (STICK_BUCKETS - 1) - out[..., col]
    return out


@dataclass(frozen=True)
class ControllerState:
    """One controller input to send at play time (sticks in [-1, 1], shoulder in [0, 1])."""

    buttons: dict[str, bool]
    main_x: float
    main_y: float
    c_x: float
    c_y: float
    shoulder: float

    @property
    def button_mask(self) -> int:
        """The physical-buttons bitmask of the pressed buttons."""
        return sum(m for name, m in zip(BUTTON_NAMES, BUTTON_MASKS, strict=True) if self.buttons[name])


def decode_action(labels: Any) -> ControllerState:
    """One label row `[13]` (classes) -> the ControllerState to send."""
    row = np.asarray(labels).reshape(-1)
    if row.shape[0] != LABEL_DIM:
        raise ValueError(f"an action has {LABEL_DIM} label columns, got shape {np.shape(labels)}")
    sticks = decode_stick(row[LABEL_MAIN_X : LABEL_C_Y + 1])
    return ControllerState(
        buttons={name: bool(row[i]) for i, name in enumerate(BUTTON_NAMES)},
        main_x=float(sticks[0]),
        main_y=float(sticks[1]),
        c_x=float(sticks[2]),
        c_y=float(sticks[3]),
        shoulder=float(decode_shoulder(row[LABEL_SHOULDER])),
    )
