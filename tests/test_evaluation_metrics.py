"""Held-out metrics on tiny hand-made predictions whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from exphil_assets.evaluation.metrics import ECE_BINS, HeldOutAccumulator
from exphil_assets.training.loss import imitation_loss

STICK = 17


def _logits_for(frames: int, **overrides: torch.Tensor) -> dict[str, torch.Tensor]:
    """Neutral-preferring logits [1, frames, K] for every head, with some heads replaced."""
    base = {
        "buttons": torch.full((1, frames, 8), -3.0),
        "main_x": torch.zeros(1, frames, STICK),
        "main_y": torch.zeros(1, frames, STICK),
        "c_x": torch.zeros(1, frames, STICK),
        "c_y": torch.zeros(1, frames, STICK),
        "shoulder": torch.zeros(1, frames, 5),
    }
    for name in ("main_x", "main_y", "c_x", "c_y"):
        base[name][..., 8] = 5.0
    base["shoulder"][..., 0] = 5.0
    for name, value in overrides.items():
        base[name] = value.reshape(1, frames, -1).float()
    return base


def _labels(frames: int, **columns: list[int]) -> torch.Tensor:
    """Labels [1, frames, 13]: neutral sticks, no buttons, unless given."""
    labels = torch.zeros(1, frames, 13, dtype=torch.long)
    labels[..., 8:12] = 8
    index = {"main_x": 8, "main_y": 9, "c_x": 10, "c_y": 11, "shoulder": 12}
    for name, values in columns.items():
        labels[0, :, index[name]] = torch.tensor(values)
    return labels


def _ranked(order: list[int]) -> torch.Tensor:
    """17 logits whose descending order starts with `order`."""
    row = torch.zeros(STICK)
    for rank, cls in enumerate(order):
        row[cls] = 10.0 - rank
    return row


def test_accuracy_top3_and_lift_on_four_known_frames():
    logits = torch.stack(
        [
            _ranked([8]),  # label 8: right
            _ranked([9, 8]),  # label 8: wrong, but 8 is in the top 3
            _ranked([0, 1, 2, 3]),  # label 3: 4th choice, outside the top 3
            _ranked([10]),  # label 10: right
        ]
    )
    acc = HeldOutAccumulator()
    acc.update(_logits_for(4, main_x=logits), _labels(4, main_x=[8, 8, 3, 10]))
    head = acc.result().heads["main_x"]

    assert head.frames == 4
    assert head.accuracy == pytest.approx(0.5)
    assert head.top3_accuracy == pytest.approx(0.75)
    # majority class 8 covers 2 of 4 frames: no lift over it
    assert head.majority_class == 8
    assert head.lift_over_majority.baseline_accuracy == pytest.approx(0.5)
    assert head.lift_over_majority.difference == pytest.approx(0.0)
    assert head.lift_over_majority.ratio == pytest.approx(1.0)
    # uniform guessing over 17 buckets
    assert head.lift_over_uniform.baseline_accuracy == pytest.approx(1 / 17)
    assert head.lift_over_uniform.difference == pytest.approx(0.5 - 1 / 17)
    assert head.lift_over_uniform.ratio == pytest.approx(8.5)
    assert head.label_distribution[8] == pytest.approx(0.5)
    assert head.predicted_distribution[9] == pytest.approx(0.25)


def test_shoulder_has_no_top3_and_five_classes():
    acc = HeldOutAccumulator()
    acc.update(_logits_for(2), _labels(2, shoulder=[0, 4]))
    shoulder = acc.result().heads["shoulder"]
    assert shoulder.classes == 5
    assert shoulder.top3_accuracy is None
    assert shoulder.accuracy == pytest.approx(0.5)
    assert shoulder.lift_over_uniform.baseline_accuracy == pytest.approx(0.2)


def _confident(cls: int, confidence: float) -> torch.Tensor:
    """Logits whose softmax gives `confidence` to `cls` and splits the rest evenly."""
    probs = torch.full((STICK,), (1 - confidence) / (STICK - 1))
    probs[cls] = confidence
    return probs.log()


def test_ece_of_two_confidence_groups_is_the_weighted_gap():
    # 10 frames at confidence 0.9 with 9 right (gap 0); 10 at 0.6 with 3 right (gap 0.3)
    rows, labels = [], []
    for i in range(10):
        rows.append(_confident(8, 0.9))
        labels.append(8 if i < 9 else 0)
    for i in range(10):
        rows.append(_confident(8, 0.6))
        labels.append(8 if i < 3 else 0)
    acc = HeldOutAccumulator()
    acc.update(_logits_for(20, c_x=torch.stack(rows)), _labels(20, c_x=labels))
    head = acc.result().heads["c_x"]

    assert head.ece == pytest.approx(0.5 * 0.0 + 0.5 * 0.3, abs=1e-6)
    filled = [b for b in head.calibration if b.count]
    assert [b.count for b in filled] == [10, 10]
    assert filled[0].mean_confidence == pytest.approx(0.6, abs=1e-6)
    assert filled[0].accuracy == pytest.approx(0.3)
    assert len(head.calibration) == ECE_BINS


def _reference_ece(logits: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """The textbook definition, written independently: equal-width bins (lo, hi]."""
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs((pred[in_bin] == labels[in_bin]).mean() - conf[in_bin].mean())
    return total


def test_streaming_over_batches_matches_one_batch_and_the_reference_ece():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 50, STICK, generator=gen) * 2
    labels = torch.randint(0, STICK, (3, 50), generator=gen)

    whole = HeldOutAccumulator()
    whole.update(
        _logits_for(150, main_y=logits.reshape(150, STICK)), _labels(150, main_y=labels.reshape(-1).tolist())
    )
    streamed = HeldOutAccumulator()
    for b in range(3):
        streamed.update(_logits_for(50, main_y=logits[b]), _labels(50, main_y=labels[b].tolist()))

    a, s = whole.result().heads["main_y"], streamed.result().heads["main_y"]
    assert s.accuracy == pytest.approx(a.accuracy)
    assert s.top3_accuracy == pytest.approx(a.top3_accuracy)
    assert s.ece == pytest.approx(a.ece)
    expected = _reference_ece(
        logits.reshape(150, STICK).numpy().astype(np.float64), labels.reshape(-1).numpy()
    )
    assert a.ece == pytest.approx(expected, abs=1e-6)


def test_button_accuracy_press_rates_and_exact_match():
    # 4 frames; A pressed by the human on frames 0,1; the model presses A on frames 0,2.
    button_logits = torch.full((4, 8), -4.0)
    button_logits[0, 0] = button_logits[2, 0] = 4.0
    labels = _labels(4)
    labels[0, 0, 0] = labels[0, 1, 0] = 1
    acc = HeldOutAccumulator()
    acc.update(_logits_for(4, buttons=button_logits), labels)
    buttons = acc.result().buttons
    a = buttons.per_button[0]

    assert a.button == "A"
    assert a.accuracy == pytest.approx(0.5)  # frames 0 and 3 right
    assert a.actual_press_rate == pytest.approx(0.5)
    assert a.predicted_press_rate == pytest.approx(0.5)
    assert a.majority_baseline == pytest.approx(0.5)
    b = buttons.per_button[1]
    assert (b.accuracy, b.actual_press_rate, b.predicted_press_rate) == (1.0, 0.0, 0.0)
    assert buttons.accuracy == pytest.approx((0.5 + 7 * 1.0) / 8)
    assert buttons.exact_match_accuracy == pytest.approx(0.5)
    assert buttons.lift_over_uniform.difference == pytest.approx(buttons.accuracy - 0.5)
    # majority per button: A 0.5, the other seven 1.0
    assert buttons.lift_over_majority.baseline_accuracy == pytest.approx((0.5 + 7) / 8)


def test_top_confusions_name_the_pair_with_decoded_stick_values():
    # human holds full right (bucket 16) 3 times; the model says neutral twice, and 12 once
    rows = [_ranked([8]), _ranked([8]), _ranked([12]), _ranked([16])]
    acc = HeldOutAccumulator()
    acc.update(_logits_for(4, main_x=torch.stack(rows)), _labels(4, main_x=[16, 16, 16, 16]))
    confusions = acc.result().heads["main_x"].top_confusions

    assert [(c.true_bucket, c.predicted_bucket, c.count) for c in confusions] == [(16, 8, 2), (16, 12, 1)]
    assert confusions[0].true_value == pytest.approx(1.0)
    assert confusions[0].predicted_value == pytest.approx(0.0)
    assert confusions[1].predicted_value == pytest.approx(0.5)
    assert confusions[0].share == pytest.approx(0.5)


def test_heatmaps_count_human_and_model_stick_positions_by_y_then_x():
    x_logits = torch.stack([_ranked([16]), _ranked([16])])
    y_logits = torch.stack([_ranked([0]), _ranked([0])])
    acc = HeldOutAccumulator()
    acc.update(_logits_for(2, main_x=x_logits, main_y=y_logits), _labels(2, main_x=[16, 0], main_y=[8, 8]))
    heat = acc.result().stick_heatmaps["main"]
    human, model = np.array(heat.human), np.array(heat.model)
    assert human[8, 16] == 1 and human[8, 0] == 1 and human.sum() == 2
    assert model[0, 16] == 2 and model.sum() == 2


def test_loss_is_trainings_loss_per_frame():
    gen = torch.Generator().manual_seed(1)
    logits = {k: torch.randn(2, 5, v.shape[-1], generator=gen) for k, v in _logits_for(1).items()}
    labels = torch.zeros(2, 5, 13, dtype=torch.long)
    labels[..., 8:12] = torch.randint(0, STICK, (2, 5, 4), generator=gen)
    labels[..., 12] = torch.randint(0, 5, (2, 5), generator=gen)
    labels[..., 0:8] = torch.randint(0, 2, (2, 5, 8), generator=gen)
    sums = imitation_loss(logits, labels)
    acc = HeldOutAccumulator()
    acc.update(logits, labels)
    acc.add_loss(sums)
    metrics = acc.result()
    assert metrics.loss == pytest.approx(float(sums.total) / 10, rel=1e-6)
    assert metrics.loss_by_head["main_x"] == pytest.approx(float(sums.heads["main_x"]) / 10, rel=1e-6)
    assert metrics.frames == 10


def test_mask_drops_padded_frames():
    rows = [_ranked([8]), _ranked([0])]
    acc = HeldOutAccumulator()
    acc.update(
        _logits_for(2, main_x=torch.stack(rows)),
        _labels(2, main_x=[8, 8]),
        mask=torch.tensor([[True, False]]),
    )
    head = acc.result().heads["main_x"]
    assert head.frames == 1 and head.accuracy == 1.0


def test_to_dict_is_plain_json_data():
    import json

    acc = HeldOutAccumulator()
    acc.update(_logits_for(3), _labels(3))
    d = acc.result().to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["heads"]["main_x"]["accuracy"] == 1.0
    assert not math.isnan(d["buttons"]["accuracy"])
