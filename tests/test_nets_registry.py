"""Backbone registry and PolicyConfig: every backbone builds, configs round-trip, bad names are named."""

from __future__ import annotations

import json

import pytest
import torch

from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.nets.registry import BACKBONES, build_backbone


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: a second thread only adds synchronisation (about 10x slower on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(backbone: str) -> PolicyConfig:
    return PolicyConfig(
        float_dim=7, id_vocab_sizes=(4, 9), backbone=backbone, id_embed_dim=3, hidden=(16, 12),
        num_layers=2, dropout=0.0, window_size=5, num_heads=2, state_size=4, conv_size=3, head_hidden=8,
    )


def test_unknown_backbone_error_names_the_valid_ones():
    with pytest.raises(ValueError) as err:
        build_backbone("transformer", 16, _config("mlp"))
    for name in BACKBONES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="sliding_window"):
        PolicyConfig(float_dim=3, id_vocab_sizes=(), backbone="rnn")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_each_backbone_builds_from_config_and_round_trips(backbone):
    cfg = _config(backbone)
    restored = PolicyConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert restored == cfg
    torch.manual_seed(0)
    policy = Policy(cfg).eval()
    torch.manual_seed(0)
    rebuilt = Policy(restored).eval()
    rebuilt.load_state_dict(policy.state_dict())
    floats, ids = torch.randn(2, 6, 7), torch.randint(0, 4, (2, 6, 2))
    labels = torch.zeros(2, 6, 13, dtype=torch.long)
    logits, _ = policy(floats, ids, labels)
    again, _ = rebuilt(floats, ids, labels)
    assert logits["main_x"].shape == (2, 6, 17)
    torch.testing.assert_close(logits["main_x"], again["main_x"])
    assert policy.hidden_size == policy.backbone.out_dim


def test_the_activation_reaches_the_encoder_the_layers_and_the_heads():
    gelu, relu = Policy(_config("mlp")), Policy(PolicyConfig.from_dict(_config("mlp").to_dict() | {"activation": "relu"}))
    assert gelu.config.activation == "gelu"  # the default
    assert (relu.encoder.activation, relu.heads.activation) == ("relu", "relu")
    assert (gelu.encoder.activation, gelu.heads.activation) == ("gelu", "gelu")
    assert any(isinstance(m, torch.nn.ReLU) for m in relu.backbone.modules())
    assert any(isinstance(m, torch.nn.GELU) for m in gelu.backbone.modules())
    gelu.load_state_dict(relu.state_dict())  # the same parameters: only the function differs
    floats, ids = torch.randn(3, 1, 7), torch.randint(0, 4, (3, 1, 2))
    labels = torch.zeros(3, 1, 13, dtype=torch.long)
    assert not torch.allclose(relu.eval()(floats, ids, labels)[0]["main_x"], gelu.eval()(floats, ids, labels)[0]["main_x"])
    with pytest.raises(ValueError, match="gelu, relu"):
        PolicyConfig(float_dim=3, id_vocab_sizes=(), activation="tanh")


def test_a_config_from_before_the_activation_option_reads_as_gelu():
    saved = _config("mlp").to_dict()
    del saved["activation"]  # as written by earlier versions, whose networks all used GELU
    assert PolicyConfig.from_dict(saved).activation == "gelu"  # the default is what they used


def test_from_dict_rejects_unknown_keys():
    d = _config("mlp").to_dict() | {"hiden": [3]}
    with pytest.raises(ValueError, match="hiden"):
        PolicyConfig.from_dict(d)


def test_out_of_vocabulary_id_is_named():
    policy = Policy(_config("mlp"))
    ids = torch.tensor([[[1, 9]]])
    with pytest.raises(ValueError, match="id column 1"):
        policy(torch.randn(1, 1, 7), ids, torch.zeros(1, 1, 13, dtype=torch.long))
