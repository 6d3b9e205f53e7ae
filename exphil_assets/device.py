"""Which torch device a run uses: the one place that turns `--device NAME` into a torch.device.

Names: `auto` (cuda when torch sees a GPU, else cpu), `cpu`, `cuda`, `cuda:N`.
Asking for CUDA where there is none is a UserError, never a silent fall-back to
the CPU: a run the user meant for the GPU should not quietly take 50x longer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from exphil_assets.errors import UserError

if TYPE_CHECKING:  # torch is imported where it is used, so config validation stays torch-free
    import torch

DEVICE_NAMES = "auto, cpu, cuda or cuda:N"
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_name(name: str, option: str = "--device") -> str:
    """The name, normalised (lower case, no spaces), or a UserError naming `option`; needs no GPU."""
    text = str(name).strip().lower()
    if not _DEVICE_PATTERN.match(text):
        raise UserError(f"{option}: unknown device {name!r} (expected {DEVICE_NAMES})")
    return text


def resolve_device(name: str = "auto", option: str = "--device") -> torch.device:
    """`auto` | `cpu` | `cuda` | `cuda:N` -> torch.device; CUDA asked for but missing is a UserError."""
    import torch

    text = check_device_name(name, option)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise UserError(f"{option} {text}: CUDA is not available ({build}); use --device cpu or --device auto")
    device = torch.device(text)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"{option} {text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


__all__ = ["DEVICE_NAMES", "check_device_name", "resolve_device"]


@contextmanager
def flush_denormals() -> Iterator[None]:
    """CPU float math treats denormals as zero inside the block (torch's default, off, after it).

    Adam's running means for gradients that stop coming (ids no longer seen, masked
    weights) decay through the denormal range, which x86 CPUs compute about 100x
    slowly: without this the 512x512 MLP step slowed by 15% over 1,000 steps.
    torch has no getter for the setting, so the block restores the default.
    """
    import torch

    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
