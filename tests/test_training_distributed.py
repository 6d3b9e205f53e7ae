"""Which backend and which device each torchrun rank uses (CUDA mocked: no GPU is touched)."""

from __future__ import annotations

import pytest
import torch

from exphil_assets.errors import UserError
from exphil_assets.training.distributed import DistContext, backend_for, rank_device


def test_cpu_ranks_use_gloo_and_cuda_ranks_use_nccl():
    assert backend_for(torch.device("cpu")) == "gloo"
    assert backend_for(torch.device("cuda")) == "nccl"
    assert backend_for(torch.device("cuda", 1)) == "nccl"


def test_each_cuda_rank_drives_the_gpu_of_its_local_rank(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert rank_device(torch.device("cuda"), 0) == torch.device("cuda", 0)
    assert rank_device(torch.device("cuda"), 3) == torch.device("cuda", 3)


def test_cpu_ranks_all_stay_on_the_cpu():
    assert rank_device(torch.device("cpu"), 3) == torch.device("cpu")


def test_more_cuda_ranks_than_gpus_is_a_user_error_naming_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UserError, match=r"--device cuda: rank 1 needs GPU cuda:1, but this machine has 1"):
        rank_device(torch.device("cuda"), 1)


def test_a_single_process_keeps_the_resolved_device_and_no_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = DistContext.from_env(torch.device("cpu"))
    assert (ctx.enabled, ctx.owns_group, ctx.device) == (False, False, torch.device("cpu"))
    assert ctx.any(True) is True and ctx.all_reduce_sum(torch.ones(2)).tolist() == [1.0, 1.0]
