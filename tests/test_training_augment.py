"""Mirror and noise augmentation."""

from __future__ import annotations

import torch

from exphil_assets.training.augment import AugmentColumns, Augmenter, batch_generator

NAMES = ["p1_x", "p1_y", "p1_facing", "p1_percent", "p1_vel_self_x_air", "p1_vel_self_y", "p2_x"]


def _batch():
    floats = torch.arange(1, 8, dtype=torch.float32).repeat(4, 2, 1)  # [4, 2, 7]
    labels = torch.zeros(4, 2, 13, dtype=torch.long)
    labels[..., 8], labels[..., 9], labels[..., 10], labels[..., 11] = 3, 5, 16, 8
    return {"floats": floats, "labels": labels}


def test_columns_come_from_the_feature_names():
    cols = AugmentColumns.from_float_names(NAMES)
    assert cols.mirror == (0, 2, 4, 6)
    assert cols.noise == (0, 1, 4, 5, 6)


def test_mirror_negates_horizontal_features_and_flips_stick_x_labels():
    aug = Augmenter(AugmentColumns.from_float_names(NAMES), mirror_prob=1.0)
    batch = aug(_batch(), batch_generator(0, 0, 0))
    assert batch["floats"][0, 1].tolist() == [-1, 2, -3, 4, -5, 6, -7]
    labels = batch["labels"][0, 0]
    assert (labels[8].item(), labels[9].item(), labels[10].item(), labels[11].item()) == (13, 5, 0, 8)


def test_mirror_twice_is_identity_and_prob_zero_changes_nothing():
    aug = Augmenter(AugmentColumns.from_float_names(NAMES), mirror_prob=1.0)
    twice = aug(aug(_batch(), batch_generator(0, 0, 0)), batch_generator(0, 0, 1))
    assert torch.equal(twice["floats"], _batch()["floats"]) and torch.equal(twice["labels"], _batch()["labels"])
    assert not Augmenter(AugmentColumns.from_float_names(NAMES)).active


def test_noise_touches_only_positions_and_speeds_and_is_reproducible():
    aug = Augmenter(AugmentColumns.from_float_names(NAMES), noise_prob=1.0, noise_scale=0.1)
    a = aug(_batch(), batch_generator(3, 1, 7))
    b = aug(_batch(), batch_generator(3, 1, 7))
    assert torch.equal(a["floats"], b["floats"])
    diff = (a["floats"] - _batch()["floats"]).abs()
    assert diff[..., [2, 3]].max() == 0  # facing, percent untouched
    assert diff[..., [0, 1, 4, 5, 6]].min() > 0
    assert 0.01 < diff.max() < 1.0
