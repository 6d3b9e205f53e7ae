"""Data-parallel training under `torchrun`: one process per rank, DDP on gloo (CPU) or nccl (CUDA).

`torchrun --nproc_per_node 2 -m exphil_assets.cli.main train ...` sets WORLD_SIZE,
RANK, LOCAL_RANK and the rendezvous variables; a plain `exphil train` has none and
runs as a single process with the same code path. On CUDA each rank drives the GPU
`cuda:{LOCAL_RANK}` and the ranks talk over nccl; on the CPU they use gloo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from exphil_assets.errors import UserError


def backend_for(device: torch.device) -> str:
    """The process-group backend for ranks on `device`: nccl for CUDA, gloo for the CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


def rank_device(device: torch.device, local_rank: int) -> torch.device:
    """The device of one rank: its own GPU `cuda:{local_rank}` on CUDA, the CPU otherwise."""
    if device.type != "cuda":
        return device
    if local_rank >= torch.cuda.device_count():
        raise UserError(
            f"--device {device}: rank {local_rank} needs GPU cuda:{local_rank}, but this machine has "
            f"{torch.cuda.device_count()}; run at most that many processes per node, or use --device cpu"
        )
    return torch.device("cuda", local_rank)


@dataclass
class DistContext:
    world_size: int = 1
    rank: int = 0
    owns_group: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device | None = None) -> DistContext:
        """The ranks of this run; `device` (resolved from --device) picks the backend and each rank's GPU."""
        device = device if device is not None else torch.device("cpu")
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(device=device)
        device = rank_device(device, int(os.environ.get("LOCAL_RANK", "0")))
        if device.type == "cuda":
            torch.cuda.set_device(device)
        owns = False
        if not dist.is_initialized():
            dist.init_process_group(backend=backend_for(device))
            owns = True
        return cls(world_size=dist.get_world_size(), rank=dist.get_rank(), owns_group=owns, device=device)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over ranks (on this rank's device: nccl reduces GPU tensors only)."""
        if self.enabled:
            tensor = tensor.to(self.device)
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def any(self, flag: bool) -> bool:
        """True on every rank when any rank says True (agree on stopping)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
