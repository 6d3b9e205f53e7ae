"""The imitation loss and the accuracy metrics, on hand-made logits."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from exphil_assets.training.loss import HEADS, imitation_loss
from exphil_assets.training.metrics import MetricAccumulator, majority_baseline


def _labels(b=4, t=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(b, t, 13, dtype=torch.long)
    labels[..., :8] = torch.randint(0, 2, (b, t, 8), generator=g)
    labels[..., 8:12] = torch.randint(0, 17, (b, t, 4), generator=g)
    labels[..., 12] = torch.randint(0, 5, (b, t), generator=g)
    return labels


def _logits(b=4, t=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    out = {"buttons": torch.randn(b, t, 8, generator=g)}
    for name in ("main_x", "main_y", "c_x", "c_y"):
        out[name] = torch.randn(b, t, 17, generator=g)
    out["shoulder"] = torch.randn(b, t, 5, generator=g)
    return out


def _perfect_logits(labels):
    out = {"buttons": (labels[..., :8].float() * 2 - 1) * 20}
    for name, col, n in (("main_x", 8, 17), ("main_y", 9, 17), ("c_x", 10, 17), ("c_y", 11, 17), ("shoulder", 12, 5)):
        out[name] = F.one_hot(labels[..., col], n).float() * 20
    return out


def test_loss_is_bce_for_buttons_plus_ce_per_head_summed_over_frames():
    labels, logits = _labels(), _logits()
    losses = imitation_loss(logits, labels)
    assert losses.frames == 12
    bce = F.binary_cross_entropy_with_logits(logits["buttons"], labels[..., :8].float(), reduction="mean")
    assert losses.heads["buttons"].item() == pytest.approx(bce.item() * 12, rel=1e-5)
    ce = F.cross_entropy(logits["main_y"].reshape(12, 17), labels[..., 9].reshape(12), reduction="sum")
    assert losses.heads["main_y"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert losses.total.item() == pytest.approx(sum(v.item() for v in losses.heads.values()), rel=1e-6)


def test_label_smoothing_touches_only_the_categorical_heads():
    labels, logits = _labels(), _logits()
    plain, smooth = imitation_loss(logits, labels), imitation_loss(logits, labels, label_smoothing=0.1)
    assert smooth.heads["buttons"].item() == plain.heads["buttons"].item()
    assert smooth.heads["c_x"].item() != plain.heads["c_x"].item()


def test_every_categorical_head_is_its_own_cross_entropy_with_smoothing():
    labels, logits = _labels(), _logits()
    losses = imitation_loss(logits, labels, label_smoothing=0.1)
    for name, col, classes in (("main_x", 8, 17), ("main_y", 9, 17), ("c_x", 10, 17), ("c_y", 11, 17),
                               ("shoulder", 12, 5)):  # fmt: skip
        ce = F.cross_entropy(logits[name].reshape(12, classes), labels[..., col].reshape(12), reduction="sum",
                             label_smoothing=0.1)  # fmt: skip
        assert losses.heads[name].item() == pytest.approx(ce.item(), rel=1e-5), name


def test_uniform_logits_give_log_classes():
    labels = _labels()
    logits = {k: torch.zeros_like(v) for k, v in _logits().items()}
    per_frame = {k: v.item() / 12 for k, v in imitation_loss(logits, labels).heads.items()}
    assert per_frame["buttons"] == pytest.approx(math.log(2), rel=1e-6)
    assert per_frame["main_x"] == pytest.approx(math.log(17), rel=1e-6)
    assert per_frame["shoulder"] == pytest.approx(math.log(5), rel=1e-6)


def test_bf16_logits_give_an_fp32_loss():
    labels, logits = _labels(), {k: v.bfloat16() for k, v in _logits().items()}
    assert imitation_loss(logits, labels).total.dtype == torch.float32


def test_perfect_logits_score_full_accuracy():
    labels = _labels()
    logits = _perfect_logits(labels)
    acc = MetricAccumulator()
    acc.update(logits, labels, imitation_loss(logits, labels))
    s = acc.summary()
    assert all(s[f"acc/{h}"] == 1.0 for h in HEADS)
    assert s["acc/button_A"] == 1.0 and s["top3/c_y"] == 1.0
    assert s["loss"] < 1e-3 and s["frames"] == 12


def test_accuracy_counts_per_button_and_top3():
    labels = torch.zeros(1, 2, 13, dtype=torch.long)
    labels[0, :, 8] = 8  # main x neutral on both frames
    logits = _perfect_logits(labels)
    logits["buttons"][0, 0, 0] = 5.0  # frame 0 presses A wrongly
    logits["main_x"][0, 1] = torch.zeros(17)
    logits["main_x"][0, 1, 3], logits["main_x"][0, 1, 8] = 2.0, 1.0  # frame 1: argmax wrong, 8 in top 3
    acc = MetricAccumulator()
    acc.update(logits, labels, imitation_loss(logits, labels))
    s = acc.summary()
    assert s["acc/button_A"] == 0.5 and s["acc/button_B"] == 1.0
    assert s["acc/buttons"] == pytest.approx(15 / 16)
    assert s["acc/main_x"] == 0.5 and s["top3/main_x"] == 1.0


def test_accumulator_merges_like_one_pass():
    labels, logits = _labels(b=6), _logits(b=6)
    whole = MetricAccumulator()
    whole.update(logits, labels, imitation_loss(logits, labels))
    a, b = MetricAccumulator(), MetricAccumulator()
    for acc, sl in ((a, slice(0, 2)), (b, slice(2, 6))):
        part = {k: v[sl] for k, v in logits.items()}
        acc.update(part, labels[sl], imitation_loss(part, labels[sl]))
    a.merge_(b)
    restored = MetricAccumulator()
    restored.load_tensor_(a.as_tensor())
    for key, value in whole.summary().items():
        assert restored.summary()[key] == pytest.approx(value)


def test_majority_baseline():
    labels = torch.zeros(4, 1, 13, dtype=torch.long)
    labels[:3, 0, 0] = 1  # A pressed 3 of 4
    labels[:, 0, 8] = torch.tensor([8, 8, 2, 8])
    base = majority_baseline(labels)
    assert base["acc/buttons"] == pytest.approx((0.75 + 7) / 8)
    assert base["acc/main_x"] == 0.75
