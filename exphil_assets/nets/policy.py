"""Policy: StateEncoder -> backbone -> autoregressive ControllerHeads, and its config.

A PolicyConfig is saved next to every exported policy's weights, so a file
rebuilds its network: `Policy(PolicyConfig.from_dict(d))`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from exphil_assets.nets.activation import check_activation
from exphil_assets.nets.encoder import StateEncoder
from exphil_assets.nets.heads import ControllerHeads
from exphil_assets.nets.registry import BACKBONES, build_backbone


class Policy(nn.Module):
    """Maps per-frame features to controller-action logits (teacher forcing) or sampled actions."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.config = config
        # The MLP's dropout on its input runs in the encoder, fused with the activation (nets/mlp.py).
        self.encoder = StateEncoder(
            config.float_dim, config.id_vocab_sizes, config.id_embed_dim, config.hidden[0], config.activation,
            dropout=config.dropout if config.backbone == "mlp" else 0.0,
        )
        self.backbone = build_backbone(config.backbone, config.hidden[0], config)
        self.hidden_size: int = self.backbone.out_dim
        self.heads = ControllerHeads(self.hidden_size, config.head_hidden, config.activation)

    def features(
        self, floats: torch.Tensor, ids: torch.Tensor, state: tuple | None = None
    ) -> tuple[torch.Tensor, tuple]:
        """floats [B,T,F], ids [B,T,K] -> (hidden [B,T,H], state). For value heads and PPO."""
        return self.backbone(self.encoder(floats, ids), state)

    def forward(
        self, floats: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor, state: tuple | None = None
    ) -> tuple[dict[str, torch.Tensor], tuple]:
        """Teacher-forced logits for every frame: (logits dict, final backbone state)."""
        hidden, state = self.features(floats, ids, state)
        return self.heads(hidden, labels), state

    def init_state(self, batch: int, device: torch.device | str | None = None) -> tuple:
        return self.backbone.init_state(batch, device)

    def step(self, state: tuple, floats: torch.Tensor, ids: torch.Tensor) -> tuple[tuple, torch.Tensor]:
        """One frame: floats [B,F], ids [B,K] -> (state, hidden [B,H])."""
        with small_batch_kernels(floats):
            return self.backbone.step(state, self.encoder(floats, ids))

    @torch.no_grad()
    def act(
        self,
        state: tuple,
        floats: torch.Tensor,
        ids: torch.Tensor,
        deterministic: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[tuple, torch.Tensor]:
        """One frame of play: (state, action int64 [B,13] in the label layout)."""
        with small_batch_kernels(floats):
            state, hidden = self.step(state, floats, ids)
            return state, self.heads.sample(hidden, deterministic, generator)

    def reset_state(self, state: tuple, done: torch.Tensor) -> tuple:
        """Fresh state for the batch rows where done [B] is True (e.g. a game ended), the old one elsewhere."""
        fresh = self.init_state(done.shape[0], done.device)
        out = []
        for old, new in zip(state, fresh, strict=True):
            mask = done.view(1, -1, *([1] * (old.dim() - 2)))
            out.append(torch.where(mask, new, old))
        return tuple(out)


SMALL_BATCH = 16  # frames per call at or below which play-time steps skip oneDNN's elementwise kernels


@contextlib.contextmanager
def small_batch_kernels(floats: torch.Tensor) -> Iterator[None]:
    """Inside: torch's own CPU kernels instead of oneDNN's, for a batch of a few frames.

    torch runs exact GELU on the CPU through oneDNN, whose per-call set-up costs ~6 us
    (the native kernel: ~1.4 us at batch 1, with the same values). A play step of a
    gelu policy, or of the attention backbones (their blocks' MLP), calls GELU up to ten
    times, so at batch 1 that set-up was a sixth of a step. Large batches
    keep oneDNN, which is faster there. Nothing else in a step uses oneDNN (fp32
    matmuls go to the BLAS).
    """
    if floats.device.type != "cpu" or floats.shape[0] > SMALL_BATCH or not torch.backends.mkldnn.enabled:
        yield
        return
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = True


@dataclass
class PolicyConfig:
    """Everything needed to rebuild a Policy. Temporal backbones use hidden[0] as their width."""

    float_dim: int  # features per frame (FeatureSpec.float_dim)
    id_vocab_sizes: tuple[int, ...]  # one vocabulary size per categorical id column
    backbone: str = "mlp"  # one of registry.BACKBONES
    id_embed_dim: int = 16  # embedding width per id column
    hidden: tuple[int, ...] = (512, 512)  # MLP layer sizes; hidden[0] is the model width
    num_layers: int = 2  # recurrent / Mamba / attention layers
    dropout: float = 0.1
    window_size: int = 60  # attention span in frames (sliding_window, hybrid)
    num_heads: int = 4  # attention heads
    attention_layers: int = 1  # attention blocks after the LSTM in the hybrid backbone
    state_size: int = 16  # Mamba SSM state size N
    expand_factor: int = 2  # Mamba inner width = expand_factor * hidden[0]
    conv_size: int = 4  # Mamba depthwise causal conv kernel
    dt_rank: int | None = None  # Mamba rank of the delta projection; None = ceil(width / 16)
    truncate_bptt: int | None = None  # detach recurrent state every N frames (lstm, gru, mamba)
    head_hidden: int = 64  # width of each autoregressive head's hidden layer
    activation: str = "gelu"  # of the encoder, the MLP layers and the heads; files from before the option used GELU

    def __post_init__(self) -> None:
        if isinstance(self.hidden, int):
            self.hidden = (self.hidden,)
        self.hidden = tuple(int(h) for h in self.hidden)
        self.id_vocab_sizes = tuple(int(v) for v in self.id_vocab_sizes)
        check_activation(self.activation)
        if self.backbone not in BACKBONES:
            raise ValueError(f"PolicyConfig.backbone: unknown backbone {self.backbone!r}; valid: {', '.join(BACKBONES)}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"PolicyConfig.hidden: need one or more positive sizes, got {self.hidden}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["id_vocab_sizes"] = list(self.id_vocab_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PolicyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"PolicyConfig.from_dict: unknown keys {unknown}; known keys: {sorted(known)}")
        return cls(**d)
