"""Per-step EMA of the weights."""

from __future__ import annotations

import torch
from torch import nn

from exphil_assets.training.ema import WeightEMA


def test_ema_follows_the_formula_with_warmup():
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = WeightEMA(model, decay=0.9)
    expected = 0.0
    for n, value in enumerate([1.0, 1.0, 2.0, 2.0, 2.0]):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update(model)
        d = min(0.9, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * value
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), expected))


def test_applied_swaps_weights_in_and_back():
    model = nn.Linear(2, 1)
    ema = WeightEMA(model, decay=0.5)
    original = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    trained = model.weight.detach().clone()
    with ema.applied(model) as m:
        assert torch.allclose(m.weight, ema.shadow["weight"])
        assert not torch.allclose(m.weight, trained) and not torch.allclose(m.weight, original)
    assert torch.equal(model.weight, trained)


def test_state_round_trips():
    model = nn.Linear(3, 2)
    ema = WeightEMA(model, decay=0.99)
    ema.update(model)
    other = WeightEMA(nn.Linear(3, 2), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 1 and other.decay == 0.99
    assert all(torch.equal(other.shadow[k], ema.shadow[k]) for k in ema.shadow)
