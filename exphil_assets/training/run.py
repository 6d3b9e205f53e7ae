"""The core of `exphil train` and of the `imitation_policy` asset: ingest if asked, then train."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from exphil_assets.device import resolve_device
from exphil_assets.paths import resolve_data_root
from exphil_assets.training.config import TrainConfig
from exphil_assets.training.distributed import DistContext
from exphil_assets.training.loop import EpochRecord, TrainResult, train


def run_train(
    cfg: TrainConfig,
    data_root: str | Path | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochRecord], bool | None] | None = None,
) -> TrainResult:
    """Ingest `cfg.replays` into the data root (idempotent: known files are skipped), then train."""
    root = resolve_data_root(data_root or cfg.data)
    # Under torchrun: rank 0 ingests while the others wait; the device picks the backend (nccl on CUDA).
    dist = DistContext.from_env(resolve_device(cfg.device))
    try:
        if cfg.replays and dist.is_main:
            from exphil_assets.replays.ingest import ingest_replays

            ingest_replays(cfg.replays, root, workers=cfg.workers, progress=progress)
        dist.barrier()
        return train(cfg, root, progress=progress, on_epoch=on_epoch)
    finally:
        dist.close()
