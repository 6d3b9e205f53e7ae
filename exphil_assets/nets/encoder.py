"""StateEncoder: per-frame features (floats + categorical ids) -> one vector.

Each id column (action state, character, stage, ...) gets its own embedding
table: ids are categories, so feeding them to the network as floats would
impose an order that means nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from exphil_assets.nets.activation import check_activation
from exphil_assets.nets.dropout import Dropout, activate_then_drop
from exphil_assets.nets.linear import Linear


class StateEncoder(nn.Module):
    """floats [..., F] float32 and ids [..., K] int64 -> dropout(activation(projection)) [..., out_dim].

    `dropout` is the MLP backbone's dropout on its input, applied here so that it runs fused
    with the activation (the other backbones start from the encoder's output undropped).
    """

    def __init__(
        self,
        float_dim: int,
        id_vocab_sizes: tuple[int, ...],
        id_embed_dim: int,
        out_dim: int,
        activation: str = "gelu",
        dropout: float = 0.0,
    ):
        super().__init__()
        self.activation = check_activation(activation)
        self.dropout = Dropout(dropout)
        self.float_dim = float_dim
        self.id_vocab_sizes = tuple(int(v) for v in id_vocab_sizes)
        self.embeddings = nn.ModuleList(nn.Embedding(v, id_embed_dim) for v in self.id_vocab_sizes)
        self.proj = Linear(float_dim + id_embed_dim * len(self.id_vocab_sizes), out_dim)
        self.out_dim = out_dim
        self.register_buffer("_vocab", torch.tensor(self.id_vocab_sizes, dtype=torch.long), persistent=False)
        # row of each column's table in the tables stacked end to end: one lookup serves all columns
        starts = [sum(self.id_vocab_sizes[:k]) for k in range(len(self.id_vocab_sizes))]
        self.register_buffer("_row_offsets", torch.tensor(starts, dtype=torch.long), persistent=False)

    def forward(self, floats: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        if floats.shape[-1] != self.float_dim:
            raise ValueError(f"StateEncoder: floats have {floats.shape[-1]} features, expected float_dim={self.float_dim}")
        if ids.shape[-1] != len(self.id_vocab_sizes):
            raise ValueError(
                f"StateEncoder: ids have {ids.shape[-1]} columns, expected {len(self.id_vocab_sizes)} "
                f"(id_vocab_sizes={self.id_vocab_sizes})"
            )
        parts = [floats]
        if self.embeddings:
            self._check_id_range(ids)
            table = torch.cat([emb.weight for emb in self.embeddings])
            # index_select, not F.embedding: the same rows, and its backward (index_add_) is
            # about 2x cheaper than embedding_dense_backward on the CPU.
            rows = table.index_select(0, (ids + self._row_offsets).reshape(-1))
            parts.append(rows.view(*ids.shape[:-1], -1))
        return activate_then_drop(self.proj(torch.cat(parts, dim=-1)), self.activation, self.dropout)

    def _check_id_range(self, ids: torch.Tensor) -> None:
        # nn.Embedding fails with an opaque index error; name the column instead.
        flat = ids.reshape(-1, ids.shape[-1])
        if flat.numel() == 0:
            return
        bad = (flat.amax(0) >= self._vocab) | (flat.amin(0) < 0)
        if bool(bad.any()):
            k = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"StateEncoder: id column {k} has values in [{int(flat[:, k].min())}, {int(flat[:, k].max())}], "
                f"outside its vocabulary [0, {self.id_vocab_sizes[k]})"
            )
