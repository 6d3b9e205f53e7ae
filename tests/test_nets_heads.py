"""Autoregressive controller heads: teacher forcing, sampling order, log-probs."""

from __future__ import annotations

import pytest
import torch
from tiny_policies import random_labels

from exphil_assets.nets.heads import CATEGORICAL_HEADS, ControllerHeads, action_entropy, action_log_prob

H = 24



@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: a second thread only adds synchronisation (about 10x slower on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _heads() -> ControllerHeads:
    torch.manual_seed(0)
    return ControllerHeads(H, head_hidden=16).eval()


def test_logits_have_the_documented_shapes():
    heads = _heads()
    logits = heads(torch.randn(3, 5, H), random_labels((3, 5)))
    shapes = {k: tuple(v.shape) for k, v in logits.items()}
    assert shapes == {
        "buttons": (3, 5, 8),
        "main_x": (3, 5, 17),
        "main_y": (3, 5, 17),
        "c_x": (3, 5, 17),
        "c_y": (3, 5, 17),
        "shoulder": (3, 5, 5),
    }


def test_changing_an_earlier_label_changes_later_logits_only():
    heads = _heads()
    hidden = torch.randn(4, H)
    labels = random_labels((4,))
    base = heads(hidden, labels)
    order = ["buttons"] + [name for name, _, _ in CATEGORICAL_HEADS]
    # Label column -> index of the head that predicts it.
    for col, head_index in [(0, 0), (8, 1), (9, 2), (10, 3), (11, 4), (12, 5)]:
        changed = labels.clone()
        classes = 2 if col < 8 else (5 if col == 12 else 17)
        changed[:, col] = (changed[:, col] + 1) % classes
        out = heads(hidden, changed)
        for i, name in enumerate(order):
            same = torch.equal(out[name], base[name])
            if i <= head_index:
                assert same, f"changing label column {col} changed {name} logits (head {i} <= {head_index})"
            else:
                assert not same, f"changing label column {col} did not change later head {name}"


def test_masked_weights_stay_zero_and_get_no_gradient():
    # Head k may only see the conditioning of the heads before it, and only its own units.
    heads = _heads().train()
    logits = heads(torch.randn(7, H), random_labels((7,)))
    sum(v.sum() for v in logits.values()).backward()
    for layer, mask in ((heads.hidden_layer, heads._hidden_mask), (heads.output_layer, heads._output_mask)):
        hidden = mask == 0
        assert hidden.any() and (mask == 1).any()
        assert torch.all(layer.weight[hidden] == 0) and torch.all(layer.weight.grad[hidden] == 0)
        assert layer.weight.grad[~hidden].abs().sum() > 0


def test_deterministic_sample_is_argmax_in_order():
    heads = _heads()
    hidden = torch.randn(6, H)
    action = heads.sample(hidden, deterministic=True)
    assert action.dtype == torch.int64 and action.shape == (6, 13)
    # Re-run teacher forcing with the sampled action: each head's argmax must equal what was sampled.
    logits = heads(hidden, action)
    assert torch.equal(action[:, :8], (logits["buttons"] > 0).long())
    for name, col, _ in CATEGORICAL_HEADS:
        assert torch.equal(action[:, col], logits[name].argmax(-1)), name


def test_stochastic_samples_are_in_range_and_reproducible():
    heads = _heads()
    hidden = torch.randn(2, 50, H)
    a1 = heads.sample(hidden, deterministic=False, generator=torch.Generator().manual_seed(7))
    a2 = heads.sample(hidden, deterministic=False, generator=torch.Generator().manual_seed(7))
    assert a1.shape == (2, 50, 13) and torch.equal(a1, a2)
    assert a1[..., :8].min() >= 0 and a1[..., :8].max() <= 1
    assert a1[..., 8:12].min() >= 0 and a1[..., 8:12].max() <= 16
    assert a1[..., 12].min() >= 0 and a1[..., 12].max() <= 4
    # Stochastic: not every draw equals the deterministic action.
    assert not torch.equal(a1, heads.sample(hidden, deterministic=True))


def test_log_prob_is_the_sum_of_head_log_probs():
    heads = _heads()
    hidden = torch.randn(5, H)
    actions = random_labels((5,), seed=3)
    logits = heads(hidden, actions)
    expected = torch.zeros(5)
    p = torch.sigmoid(logits["buttons"])
    b = actions[:, :8].float()
    expected += (b * p.log() + (1 - b) * (1 - p).log()).sum(-1)
    for name, col, _ in CATEGORICAL_HEADS:
        expected += torch.softmax(logits[name], -1).gather(-1, actions[:, col : col + 1]).squeeze(-1).log()
    torch.testing.assert_close(heads.log_prob(hidden, actions), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(action_log_prob(logits, actions), expected, atol=1e-5, rtol=1e-5)


def test_log_probs_of_all_stick_values_sum_to_one():
    # Probabilities over every main_x value (others fixed) sum to P(others before it) -- a normalisation check.
    heads = _heads()
    hidden = torch.randn(1, H)
    base = random_labels((1,), seed=4)
    actions = base.repeat(5, 1)
    actions[:, 12] = torch.arange(5)
    logits = heads(hidden.repeat(5, 1), actions)
    shoulder_p = torch.softmax(logits["shoulder"][0], -1)
    assert torch.isclose(shoulder_p.sum(), torch.tensor(1.0))
    lp = heads.log_prob(hidden.repeat(5, 1), actions)
    # Only the shoulder head differs between rows, so exp(lp) / sum = shoulder probabilities.
    torch.testing.assert_close(torch.softmax(lp, 0), shoulder_p, atol=1e-5, rtol=1e-5)


def test_entropy_matches_the_definition_and_is_positive():
    heads = _heads()
    hidden = torch.randn(3, H)
    actions = random_labels((3,), seed=5)
    logits = heads(hidden, actions)
    ent = heads.entropy(hidden, actions)
    p = torch.sigmoid(logits["buttons"])
    expected = -(p * p.log() + (1 - p) * (1 - p).log()).sum(-1)
    for name, _, _ in CATEGORICAL_HEADS:
        q = torch.softmax(logits[name], -1)
        expected -= (q * q.log()).sum(-1)
    torch.testing.assert_close(ent, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(action_entropy(logits), expected, atol=1e-5, rtol=1e-5)
    assert (ent > 0).all()


def test_output_bias_starts_at_the_label_frequencies():
    heads = _heads()
    labels = random_labels((500,), seed=5)
    labels[:, 8] = 3  # main x: always bucket 3
    labels[:400, 0] = 1  # button A pressed on 80% of the frames
    labels[400:, 0] = 0
    heads.init_output_bias_(labels)
    assert torch.allclose(torch.sigmoid(heads.first.bias[0]), torch.tensor(0.8))
    (_, main_x_rows, _), *_, (_, shoulder_rows, _) = heads.blocks
    main_x = torch.softmax(heads.output_layer.bias[main_x_rows], -1)
    assert main_x.argmax() == 3 and main_x[3] > 0.99
    shoulder = torch.softmax(heads.output_layer.bias[shoulder_rows].double(), -1)
    expected = torch.bincount(labels[:, 12], minlength=5).double() / 500
    torch.testing.assert_close(shoulder, expected, atol=1e-3, rtol=0)
