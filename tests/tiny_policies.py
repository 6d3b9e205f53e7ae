"""Tiny imitation policies for the RL tests: built directly through nets, exported like `exphil train` does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from exphil_assets.features.constants import EMBEDDING_VERSION
from exphil_assets.features.state import feature_spec
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.rl.rollout import torch_threads
from exphil_assets.training.checkpoints import export_policy, policy_files

SPEC = feature_spec()


def tiny_policy(backbone: str, seed: int = 0) -> Policy:
    """A few-thousand-parameter Policy of `backbone` over the real feature layout."""
    torch.manual_seed(seed)
    cfg = PolicyConfig(
        float_dim=SPEC.float_dim, id_vocab_sizes=SPEC.id_vocab_sizes, backbone=backbone, id_embed_dim=3,
        hidden=(16,), num_layers=1, dropout=0.1, window_size=4, num_heads=2, state_size=4, head_hidden=8,
    )  # fmt: skip
    return Policy(cfg).eval()


def export_tiny(policy: Policy, models: Path, stem: str) -> Path:
    """Export with the checkpoint helper; returns the .safetensors path."""
    weights, meta = policy_files(models / stem)
    export_policy(weights, meta, policy.state_dict(), policy.config, SPEC, EMBEDDING_VERSION, policy.config.backbone)
    return weights


def random_inputs(batch: int, steps: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features [batch, steps, F] and in-vocabulary ids [batch, steps, K]."""
    g = torch.Generator().manual_seed(seed)
    floats = torch.randn(batch, steps, SPEC.float_dim, generator=g)
    ids = torch.stack([torch.randint(0, v, (batch, steps), generator=g) for v in SPEC.id_vocab_sizes], -1)
    return floats, ids


def random_labels(lead: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    """Random in-range labels int64 [*lead, 13]: 8 buttons, 4 stick buckets (17), shoulder (5)."""
    g = torch.Generator().manual_seed(seed)
    buttons = torch.randint(0, 2, (*lead, 8), generator=g)
    sticks = torch.randint(0, 17, (*lead, 4), generator=g)
    shoulder = torch.randint(0, 5, (*lead, 1), generator=g)
    return torch.cat([buttons, sticks, shoulder], dim=-1)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny per-frame batches: a second torch thread only contends with the rest of a busy machine."""
    with torch_threads(1):
        yield
