"""Per-game random streams that do not depend on how many games run together.

Every game gets its own 64-bit seed; random numbers are a hash of (game seed,
frame counter, draw index) (splitmix64). So game i of a batch of 16 draws exactly
what it draws alone, and a recorded game's bytes depend only on its own seed.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_STREAM = np.uint64(0xD1B54A32D192ED03)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (uint64 arithmetic wraps, as intended)."""
    x = np.asarray(x, np.uint64)
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def derive_seeds(seed: int | np.ndarray, count: int | None = None, stream: int = 0) -> np.ndarray:
    """uint64 seeds: from one int, `count` per-game seeds (game index = position); from an array, a new stream of each."""
    with np.errstate(over="ignore"):
        return _derive(seed, count, stream)


def _derive(seed: int | np.ndarray, count: int | None, stream: int) -> np.ndarray:
    if np.ndim(seed) == 0:
        base = np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)
        index = np.arange(count if count is not None else 1, dtype=np.uint64)
        return _mix(_mix(base + _GOLDEN * (index + np.uint64(1))) + _STREAM * np.uint64(stream + 1))
    seeds = np.asarray(seed, np.uint64)
    return _mix(seeds + _STREAM * np.uint64(stream + 1))


def uniform(seeds: np.ndarray, counter: int | np.ndarray, k: int) -> np.ndarray:
    """float32 [N, k] uniforms in [0, 1) for per-game `seeds` [N] at step `counter` (int or [N])."""
    c = np.asarray(counter, np.uint64).reshape(-1, 1) if np.ndim(counter) else np.uint64(counter)
    with np.errstate(over="ignore"):
        return _uniform(seeds, c, k)


def _uniform(seeds: np.ndarray, c, k: int) -> np.ndarray:
    x = (
        seeds[:, None]
        + _GOLDEN * (c + np.uint64(1))
        + _STREAM * np.arange(1, k + 1, dtype=np.uint64)[None, :]
    )
    return (_mix(x) >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def hash32(seeds: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """uint32 [N]: one hashed value per game seed and counter."""
    with np.errstate(over="ignore"):
        x = np.asarray(seeds, np.uint64) + _GOLDEN * (np.asarray(counter, np.uint64) + np.uint64(1))
        return (_mix(x) >> np.uint64(32)).astype(np.uint32)
