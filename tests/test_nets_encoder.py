"""StateEncoder: one embedding table per id column; ids are looked up, never used as floats."""

from __future__ import annotations

import pytest
import torch

from exphil_assets.nets.encoder import StateEncoder


def _encoder() -> StateEncoder:
    torch.manual_seed(0)
    return StateEncoder(float_dim=5, id_vocab_sizes=(400, 33, 30), id_embed_dim=6, out_dim=10)


def test_each_id_column_has_its_own_embedding_table():
    enc = _encoder()
    assert [e.num_embeddings for e in enc.embeddings] == [400, 33, 30]
    assert enc.proj.in_features == 5 + 3 * 6


def test_output_depends_on_ids_through_embeddings():
    enc = _encoder()
    floats = torch.randn(2, 3, 5)
    ids = torch.tensor([[[10, 1, 2]] * 3] * 2)
    base = enc(floats, ids)
    assert base.shape == (2, 3, 10)
    # Swapping the embedding rows of two ids swaps their effect: the id value itself carries no magnitude.
    swapped = ids.clone()
    swapped[..., 0] = 300
    with torch.no_grad():
        table = enc.embeddings[0].weight
        table[[10, 300]] = table[[300, 10]]
    torch.testing.assert_close(enc(floats, swapped), base)


def test_bad_shapes_and_ids_are_named():
    enc = _encoder()
    with pytest.raises(ValueError, match="float_dim=5"):
        enc(torch.randn(1, 1, 4), torch.zeros(1, 1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="expected 3"):
        enc(torch.randn(1, 1, 5), torch.zeros(1, 1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="id column 2"):
        enc(torch.randn(1, 1, 5), torch.tensor([[[0, 0, 30]]]))
