"""Mirror and noise augmentation."""

from __future__ import annotations

import torch

from exphil_assets.features.state import feature_spec
from exphil_assets.training.augment import AugmentColumns, Augmenter, batch_generator

NAMES = ["ego_x", "ego_y", "ego_facing", "ego_percent", "ego_vel_self_x_air", "ego_vel_self_y", "opp_nana_x"]
SPEC = {"float_names": NAMES}


def _batch():
    floats = torch.arange(1, 8, dtype=torch.float32).repeat(4, 2, 1)  # [4, 2, 7]
    labels = torch.zeros(4, 2, 13, dtype=torch.long)
    labels[..., 8], labels[..., 9], labels[..., 10], labels[..., 11] = 3, 5, 16, 8
    return {"floats": floats, "labels": labels}


def test_columns_come_from_the_feature_names():
    cols = AugmentColumns.from_feature_spec(SPEC)
    assert cols.mirror == (0, 2, 4, 6)
    assert cols.noise == (0, 1, 4, 5, 6)


def test_mirror_negates_horizontal_features_and_flips_stick_x_labels():
    aug = Augmenter(AugmentColumns.from_feature_spec(SPEC), mirror_prob=1.0)
    batch = aug(_batch(), batch_generator(0, 0, 0))
    assert batch["floats"][0, 1].tolist() == [-1, 2, -3, 4, -5, 6, -7]
    labels = batch["labels"][0, 0]
    assert (labels[8].item(), labels[9].item(), labels[10].item(), labels[11].item()) == (13, 5, 0, 8)


def test_mirror_twice_is_identity_and_prob_zero_changes_nothing():
    aug = Augmenter(AugmentColumns.from_feature_spec(SPEC), mirror_prob=1.0)
    twice = aug(aug(_batch(), batch_generator(0, 0, 0)), batch_generator(0, 0, 1))
    assert torch.equal(twice["floats"], _batch()["floats"]) and torch.equal(twice["labels"], _batch()["labels"])
    assert not Augmenter(AugmentColumns.from_feature_spec(SPEC)).active


def test_noise_touches_only_positions_and_speeds_and_is_reproducible():
    aug = Augmenter(AugmentColumns.from_feature_spec(SPEC), noise_prob=1.0, noise_scale=0.1)
    a = aug(_batch(), batch_generator(3, 1, 7))
    b = aug(_batch(), batch_generator(3, 1, 7))
    assert torch.equal(a["floats"], b["floats"])
    diff = (a["floats"] - _batch()["floats"]).abs()
    assert diff[..., [2, 3]].max() == 0  # facing, percent untouched
    assert diff[..., [0, 1, 4, 5, 6]].min() > 0
    assert 0.01 < diff.max() < 1.0


def test_real_feature_spec_mirrors_its_own_signs_and_noises_positions_and_speeds():
    spec = feature_spec(with_prev_action=True)
    cols = AugmentColumns.from_feature_spec(spec)
    mirrored = {spec.float_names[i] for i in cols.mirror}
    assert {"ego_x", "opp_x", "ego_facing", "ego_vel_self_x_air", "opp_vel_knockback_x", "dx",
            "prev_main_x", "prev_c_x"} <= mirrored
    assert not mirrored & {"ego_y", "ego_percent", "dy", "dx_facing", "prev_main_y"}
    noised = {spec.float_names[i] for i in cols.noise}
    assert {"ego_x", "ego_y", "opp_x", "ego_vel_self_y", "opp_vel_knockback_x"} <= noised
    assert not noised & {"ego_percent", "ego_facing", "ego_shield", "prev_main_x"}
