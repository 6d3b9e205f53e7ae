"""The one feature function on real frame tables: ego view, Nana, nulls, invulnerability, spec."""

from __future__ import annotations

import numpy as np
import pytest

from exphil_assets.features.constants import (
    ACTION_VOCAB,
    CHARACTER_VOCAB,
    POSITION_SCALE,
    STAGE_EDGE_X,
    STAGE_VOCAB,
)
from exphil_assets.features.labels import encode_labels
from exphil_assets.features.state import FeatureSpec, build_features, category_id, feature_spec
from exphil_assets.replays.names import EXTERNAL_TO_INTERNAL_CHARACTER
from exphil_assets.replays.parse import read_frame_table


@pytest.fixture(scope="module")
def tables(shared_replays):
    names = [
        "peppi__nintendont.slp",
        "peppi__v3.13.slp",
        "peppi__ics2.slp",
        "peppi__v0.1.slp",
        "peppi__items.slp",
    ]
    return {name: read_frame_table(shared_replays / name) for name in names}


def _col(feats, name):
    return feats.floats[:, feats.spec.float_names.index(name)]


def _id(feats, name):
    return feats.ids[:, feats.spec.id_names.index(name)]


@pytest.mark.parametrize(("name", "ports"), [("peppi__nintendont.slp", (2, 4)), ("peppi__v3.13.slp", (1, 3))])
def test_ego_block_holds_the_learner_port_whichever_port_it_is(tables, name, ports):
    frames, info = tables[name]
    assert info.ports == ports
    for ego, opp in (ports, ports[::-1]):
        feats = build_features(frames, ego, opp, info.stage)
        for who, port in (("ego", ego), ("opp", opp)):
            x = frames[f"p{port}_x"].to_numpy().astype(np.float64)
            np.testing.assert_array_equal(_col(feats, f"{who}_x"), (x / POSITION_SCALE).astype(np.float32))
            percent = frames[f"p{port}_percent"].to_numpy().astype(np.float64)
            np.testing.assert_allclose(_col(feats, f"{who}_percent"), percent / 100, rtol=1e-6)
            character = next(p.character for p in info.players if p.port == port)
            assert set(_id(feats, f"{who}_character").tolist()) <= {
                EXTERNAL_TO_INTERNAL_CHARACTER[character] + 1,
                # Sheik/Zelda may transform mid-game: allow the partner's id
                EXTERNAL_TO_INTERNAL_CHARACTER.get({19: 18, 18: 19}.get(character, character)) + 1,
            }
            actions = frames[f"p{port}_action_state"].to_numpy()
            np.testing.assert_array_equal(_id(feats, f"{who}_action_state"), actions.astype(np.int64) + 1)
        # relative position is opponent minus ego
        np.testing.assert_allclose(_col(feats, "dx"), _col(feats, "opp_x") - _col(feats, "ego_x"), atol=1e-5)


def test_swapping_ego_and_opponent_swaps_their_blocks(tables):
    frames, info = tables["peppi__nintendont.slp"]
    a = build_features(frames, 2, 4, info.stage)
    b = build_features(frames, 4, 2, info.stage)
    for base in ("percent", "x", "y", "stocks", "ledge_distance"):
        np.testing.assert_array_equal(_col(a, f"ego_{base}"), _col(b, f"opp_{base}"))
    np.testing.assert_array_equal(_id(a, "ego_action_state"), _id(b, "opp_action_state"))
    np.testing.assert_allclose(_col(a, "dx"), -_col(b, "dx"), atol=1e-6)


def test_nana_block_is_filled_from_the_follower_and_zero_when_absent(tables):
    frames, info = tables["peppi__ics2.slp"]  # P1 Ice Climbers, P2 Falco
    feats = build_features(frames, 1, 2, info.stage)
    present = _col(feats, "ego_nana_present")
    nana_x = frames["p1_nana_x"]
    np.testing.assert_array_equal(present, nana_x.is_not_null().to_numpy().astype(np.float32))
    assert 0 < present.sum() < len(present)  # Nana dies at some point in this game
    on = present == 1
    np.testing.assert_array_equal(
        _col(feats, "ego_nana_x")[on], (nana_x.to_numpy()[on] / 100).astype(np.float32)
    )
    assert np.all(_id(feats, "ego_nana_character")[on] == 11 + 1)  # internal id 11 = Nana
    # Where Nana is absent, her whole block is zero.
    nana_cols = [i for i, n in enumerate(feats.spec.float_names) if n.startswith("ego_nana_")]
    assert np.all(feats.floats[~on][:, nana_cols] == 0)
    assert np.all(_id(feats, "ego_nana_action_state")[~on] == 0)
    # Falco has no follower: the opponent's Nana block is all zero.
    opp_nana = [i for i, n in enumerate(feats.spec.float_names) if n.startswith("opp_nana_")]
    assert np.all(feats.floats[:, opp_nana] == 0)


def test_missing_fields_of_old_replays_become_zero_without_nans(tables):
    frames, info = tables["peppi__v0.1.slp"]  # 0.1.0: no airborne, hitlag, speeds, flags
    assert frames["p1_hitlag"].null_count() == frames.height
    feats = build_features(frames, 1, 2, info.stage, prev_action=encode_labels(frames, "p1_"))
    assert np.isfinite(feats.floats).all()
    for name in ("ego_hitlag", "ego_vel_self_x_air", "ego_on_ground", "ego_invulnerable"):
        assert np.all(_col(feats, name) == 0), name


def test_invulnerable_reads_the_hurtbox_state_and_falls_back_to_flag_bit_0x04(tables):
    frames, info = tables["peppi__items.slp"]
    feats = build_features(frames, 1, 2, info.stage)
    hurtbox = frames["p1_hurtbox_state"].to_numpy()
    np.testing.assert_array_equal(_col(feats, "ego_invulnerable"), (hurtbox != 0).astype(np.float32))
    # Without the hurtbox field (replays < 2.1), State Bit Flags 2 bit 0x04 decides.
    old = frames.drop("p1_hurtbox_state")
    flag = (frames["p1_state_flags_2"].to_numpy() & 0x04) != 0
    assert flag.any()
    feats_old = build_features(old, 1, 2, info.stage)
    np.testing.assert_array_equal(_col(feats_old, "ego_invulnerable"), flag.astype(np.float32))


def test_ledge_distance_uses_the_stage_edge_table(tables):
    frames, info = tables["peppi__nintendont.slp"]  # Yoshi's Story, external id 8
    feats = build_features(frames, 2, 4, info.stage)
    x = frames["p2_x"].to_numpy().astype(np.float64)
    np.testing.assert_allclose(
        _col(feats, "ego_ledge_distance"), (STAGE_EDGE_X[8] - np.abs(x)) / 100, atol=1e-6
    )
    unknown_stage = build_features(frames, 2, 4, stage=12)
    assert np.all(_col(unknown_stage, "ego_ledge_distance") == 0)


def test_ids_fit_their_vocabularies(tables):
    for frames, info in tables.values():
        feats = build_features(frames, info.ports[0], info.ports[1], info.stage)
        assert feats.ids.min() >= 0
        assert np.all(feats.ids.max(axis=0) < np.array(feats.spec.id_vocab_sizes))
    assert feats.spec.id_vocab_sizes[-1] == STAGE_VOCAB
    np.testing.assert_array_equal(
        category_id([0, 5, ACTION_VOCAB - 1, 9999, np.nan], ACTION_VOCAB), [1, 6, 0, 0, 0]
    )
    assert int(category_id(32, CHARACTER_VOCAB)) == 33 and int(category_id(33, CHARACTER_VOCAB)) == 0


def test_prev_action_block_is_added_after_the_state(tables):
    frames, info = tables["peppi__v3.13.slp"]
    labels = encode_labels(frames, "p1_")
    with_prev = build_features(frames, 1, 3, info.stage, prev_action=labels)
    without = build_features(frames, 1, 3, info.stage)
    assert with_prev.spec.float_dim == without.spec.float_dim + 13
    np.testing.assert_array_equal(with_prev.floats[:, : without.spec.float_dim], without.floats)
    np.testing.assert_array_equal(_col(with_prev, "prev_A"), labels[:, 0].astype(np.float32))
    with pytest.raises(ValueError, match="prev_action"):
        build_features(frames, 1, 3, info.stage, prev_action=labels[:-1])


def test_feature_spec_round_trips_and_knows_what_mirrors():
    spec = feature_spec(with_prev_action=True)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    signs = dict(zip(spec.float_names, spec.mirror_signs(), strict=True))
    assert signs["ego_x"] == signs["opp_nana_vel_knockback_x"] == signs["dx"] == signs["prev_main_x"] == -1
    assert signs["ego_y"] == signs["dx_facing"] == signs["ego_ledge_distance"] == signs["prev_main_y"] == 1


def test_a_single_frame_mapping_gives_the_same_row_as_the_table(tables):
    frames, info = tables["peppi__nintendont.slp"]
    full = build_features(frames, 2, 4, info.stage)
    row = 5000
    mapping = {
        name: frames[name].to_numpy()[row : row + 1]
        for name in frames.columns
        if frames[name].null_count() == 0
    }
    one = build_features(mapping, 2, 4, info.stage)
    np.testing.assert_array_equal(one.floats[0], full.floats[row])
    np.testing.assert_array_equal(one.ids[0], full.ids[row])


def test_as_stored_rounds_floats_like_the_dataset(tables):
    frames, info = tables["peppi__v3.13.slp"]
    feats = build_features(frames, 1, 3, info.stage)
    stored = feats.as_stored()
    np.testing.assert_array_equal(stored.floats, feats.floats.astype(np.float16).astype(np.float32))
    assert stored.floats.dtype == np.float32 and np.abs(stored.floats - feats.floats).max() < 5e-3
