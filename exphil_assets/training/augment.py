"""Data augmentation on a batch: left-right mirroring and Gaussian noise.

Mirror: the stage is symmetric about x = 0, so a mirrored sample negates every
horizontal quantity (positions x, facing, horizontal speeds) and swaps the stick
x buckets b -> 16 - b (bucket 8 is neutral) of both the main stick and the c-stick
labels. Noise: Gaussian noise on positions and speeds only (ids, flags and
percents stay exact).

Which float columns are which comes from the FeatureSpec: `mirror_signs()` for the
mirror, the names (x, y, vel_*) for the noise (`AugmentColumns.from_feature_spec`). Randomness comes from a generator seeded by
(seed, epoch, batch), so augmentation is reproducible and resumes exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

STICK_X_LABEL_COLUMNS = (8, 10)  # main x, c x
STICK_X_MAX_BUCKET = 16  # buckets 0..16; mirror maps b -> 16 - b

# Fallback when the spec has no mirror_signs(): name patterns of the horizontal features.
MIRROR_PATTERNS = (r"(^|_)x$", r"facing$", r"vel.*_x($|_)", r"(^|_)dx$", r"prev_(main|c)_x$")
_PLAYER_PREFIX = re.compile(r"^(ego_|opp_|p[1-4]_)(nana_)?")


def _base_name(name: str) -> str:
    return _PLAYER_PREFIX.sub("", name)


def _is_position_or_speed(name: str) -> bool:
    base = _base_name(name)
    return base in ("x", "y") or base.startswith("vel_")


@dataclass(frozen=True)
class AugmentColumns:
    """Float-feature columns negated by a mirror, and columns that get noise."""

    mirror: tuple[int, ...]
    noise: tuple[int, ...]

    @classmethod
    def from_feature_spec(cls, spec: Any) -> AugmentColumns:
        """From a FeatureSpec (its mirror_signs()) or a dict/object with float_names."""
        names = list(spec["float_names"] if isinstance(spec, dict) else spec.float_names)
        if hasattr(spec, "mirror_signs"):
            mirror = tuple(int(i) for i in np.nonzero(np.asarray(spec.mirror_signs()) < 0)[0])
        else:
            mirror = tuple(i for i, n in enumerate(names) if any(re.search(p, n) for p in MIRROR_PATTERNS))
        noise = tuple(i for i, n in enumerate(names) if _is_position_or_speed(n))
        return cls(mirror=mirror, noise=noise)


@dataclass(frozen=True)
class Augmenter:
    columns: AugmentColumns
    mirror_prob: float = 0.0
    noise_prob: float = 0.0
    noise_scale: float = 0.01

    @property
    def active(self) -> bool:
        return self.mirror_prob > 0 or (self.noise_prob > 0 and self.noise_scale > 0)

    def __call__(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Augment `batch` in place (floats [B,T,F], labels [B,T,13]); each sample is one draw."""
        floats, labels = batch["floats"], batch["labels"]
        b = floats.shape[0]
        if self.mirror_prob > 0 and self.columns.mirror:
            flip = torch.rand(b, generator=generator) < self.mirror_prob
            cols = torch.tensor(self.columns.mirror)
            sign = 1.0 - 2.0 * flip.to(floats.dtype)
            floats[..., cols] *= sign[:, None, None]
            xs = torch.tensor(STICK_X_LABEL_COLUMNS)
            stick = labels[..., xs]
            labels[..., xs] = torch.where(flip[:, None, None], STICK_X_MAX_BUCKET - stick, stick)
        if self.noise_prob > 0 and self.noise_scale > 0 and self.columns.noise:
            noisy = torch.rand(b, generator=generator) < self.noise_prob
            cols = torch.tensor(self.columns.noise)
            noise = torch.randn(b, floats.shape[1], len(cols), generator=generator) * self.noise_scale
            floats[..., cols] += noise * noisy.to(floats.dtype)[:, None, None]
        return batch


def batch_generator(seed: int, epoch: int, batch_index: int) -> torch.Generator:
    """The augmentation RNG of one batch: a pure function of (seed, epoch, batch)."""
    gen = torch.Generator()
    gen.manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + batch_index) % 2**63)
    return gen
