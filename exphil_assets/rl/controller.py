"""Controller inputs for N games at once, exactly as a Slippi pre-frame records them.

A `ControllerBatch` is a struct of arrays, each shaped [N]: the physical button
bitmask (A 0x100, B 0x200, X 0x400, Y 0x800, Z 0x10, R 0x20, L 0x40, D-up 0x8),
the processed main stick and c-stick in [-1, 1], and the physical analog L/R
triggers in [0, 1]. The "processed" buttons and trigger of a pre-frame are derived
from these (`processed_buttons`, `processed_trigger`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from exphil_assets.rl import sim_constants as K


@dataclass
class ControllerBatch:
    """Inputs of one player in N games; arrays [N] (uint16 buttons, float32 the rest)."""

    buttons: np.ndarray
    main_x: np.ndarray
    main_y: np.ndarray
    c_x: np.ndarray
    c_y: np.ndarray
    l: np.ndarray  # noqa: E741  (the L trigger; named like the pre-frame field)
    r: np.ndarray

    @classmethod
    def neutral(cls, n: int) -> ControllerBatch:
        """No buttons, sticks centred, triggers released."""
        z = np.zeros(n, np.float32)
        return cls(np.zeros(n, np.uint16), z, z.copy(), z.copy(), z.copy(), z.copy(), z.copy())

    def __post_init__(self) -> None:
        self.buttons = np.asarray(self.buttons, np.uint16)
        for f in fields(self)[1:]:
            setattr(self, f.name, np.asarray(getattr(self, f.name), np.float32))
        n = self.buttons.shape
        for f in fields(self):
            if getattr(self, f.name).shape != n:
                raise ValueError(
                    f"ControllerBatch.{f.name} has shape {getattr(self, f.name).shape}, expected {n}"
                )

    def __len__(self) -> int:
        return self.buttons.shape[0]

    def select(self, index) -> ControllerBatch:
        """The inputs of some games (any numpy index)."""
        return ControllerBatch(*(np.atleast_1d(getattr(self, f.name)[index]) for f in fields(self)))


def quantize_stick(value: np.ndarray) -> np.ndarray:
    """Snap stick values to what Melee reports: multiples of 1/80, zero inside the deadzone."""
    v = np.clip(np.round(np.asarray(value, np.float32) * 80.0) / 80.0, -1.0, 1.0).astype(np.float32)
    return np.where(np.abs(v) < K.STICK_DEADZONE, np.float32(0.0), v)


def processed_buttons(buttons: np.ndarray, main_x, main_y, c_x, c_y, l, r) -> np.ndarray:  # noqa: E741
    """The pre-frame's processed buttons (uint32): physical bits plus stick-direction bits."""
    out = np.asarray(buttons, np.uint32).copy()
    d = K.STICK_DEADZONE
    for arr, sign, bit in (
        (main_y, 1, K.PROCESSED_STICK_UP), (main_y, -1, K.PROCESSED_STICK_DOWN),
        (main_x, -1, K.PROCESSED_STICK_LEFT), (main_x, 1, K.PROCESSED_STICK_RIGHT),
        (c_y, 1, K.PROCESSED_C_UP), (c_y, -1, K.PROCESSED_C_DOWN),
        (c_x, -1, K.PROCESSED_C_LEFT), (c_x, 1, K.PROCESSED_C_RIGHT),
    ):  # fmt: skip
        out |= np.where(np.asarray(arr) * sign >= d, np.uint32(bit), np.uint32(0))
    analog = (np.maximum(l, r) > 0) | ((np.asarray(buttons) & (K.BUTTON_L | K.BUTTON_R)) != 0)
    out |= np.where(analog, np.uint32(K.PROCESSED_ANALOG_TRIGGER), np.uint32(0))
    return out


def processed_trigger(buttons: np.ndarray, l: np.ndarray, r: np.ndarray) -> np.ndarray:  # noqa: E741
    """The pre-frame's processed trigger: max(L, R) analog, 1.0 on a digital press, 0.35 for Z."""
    b = np.asarray(buttons)
    t = np.maximum(np.asarray(l, np.float32), np.asarray(r, np.float32))
    t = np.where((b & K.BUTTON_Z) != 0, np.maximum(t, np.float32(K.Z_ANALOG_TRIGGER)), t)
    return np.where((b & (K.BUTTON_L | K.BUTTON_R)) != 0, np.float32(1.0), t).astype(np.float32)
