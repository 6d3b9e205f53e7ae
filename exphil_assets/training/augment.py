"""Data augmentation on a batch: left-right mirroring and Gaussian noise.

Mirror: the stage is symmetric about x = 0, so a mirrored sample negates every
horizontal quantity (positions x, facing, horizontal speeds) and swaps the stick
x buckets b -> 16 - b (bucket 8 is neutral) of both the main stick and the c-stick
labels. Noise: Gaussian noise on positions and speeds only (ids, flags and
percents stay exact).

Which float columns are which comes from the FeatureSpec's `float_names`, through
`AugmentColumns.from_float_names`. Randomness comes from a generator seeded by
(seed, epoch, batch), so augmentation is reproducible and resumes exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

STICK_X_LABEL_COLUMNS = (8, 10)  # main x, c x
STICK_X_MAX_BUCKET = 16  # buckets 0..16; mirror maps b -> 16 - b

# Name patterns (regex on FeatureSpec.float_names) of the columns each transform touches.
MIRROR_PATTERNS = (r"(^|_)x$", r"facing", r"vel.*_x($|_)", r"speed.*_x($|_)", r"(^|_)x_(air|ground)$")
NOISE_PATTERNS = (r"(^|_)(x|y)$", r"vel", r"speed")


@dataclass(frozen=True)
class AugmentColumns:
    """Float-feature columns negated by a mirror, and columns that get noise."""

    mirror: tuple[int, ...]
    noise: tuple[int, ...]

    @classmethod
    def from_float_names(cls, names: Sequence[str]) -> AugmentColumns:
        def matching(patterns: Sequence[str]) -> tuple[int, ...]:
            return tuple(i for i, n in enumerate(names) if any(re.search(p, n) for p in patterns))

        return cls(mirror=matching(MIRROR_PATTERNS), noise=matching(NOISE_PATTERNS))


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
