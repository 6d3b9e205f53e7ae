"""The label codec: buckets, inverse, buttons from the physical bitmask, on real inputs too."""

from __future__ import annotations

import numpy as np
import peppi_py
import pytest

from exphil_assets.features.constants import (
    BUTTON_MASKS,
    BUTTON_NAMES,
    LABEL_DIM,
    SHOULDER_BUCKETS,
    STICK_BUCKETS,
    STICK_CENTER,
)
from exphil_assets.features.labels import (
    decode_action,
    decode_labels_to_floats,
    decode_shoulder,
    decode_stick,
    encode_buttons,
    encode_labels,
    encode_shoulder,
    encode_stick,
    mirror_labels,
)
from exphil_assets.replays.parse import read_frame_table


def test_every_stick_class_is_reachable_from_values_in_range():
    values = np.linspace(-1.0, 1.0, 2001)
    assert set(encode_stick(values).tolist()) == set(range(STICK_BUCKETS))


def test_every_shoulder_class_is_reachable_from_values_in_range():
    values = np.linspace(0.0, 1.0, 1001)
    assert set(encode_shoulder(values).tolist()) == set(range(SHOULDER_BUCKETS))


def test_neutral_stick_is_the_centre_class():
    assert int(encode_stick(0.0)) == STICK_CENTER == 8
    assert float(decode_stick(STICK_CENTER)) == 0.0


def test_decode_of_encode_is_within_half_a_bucket():
    values = np.linspace(-1.0, 1.0, 4001)
    half_bucket = 1.0 / (STICK_BUCKETS - 1)  # buckets are 2/16 apart
    assert np.max(np.abs(decode_stick(encode_stick(values)) - values)) <= half_bucket + 1e-7
    shoulder = np.linspace(0.0, 1.0, 1001)
    assert np.max(np.abs(decode_shoulder(encode_shoulder(shoulder)) - shoulder)) <= 0.125 + 1e-7


def test_encode_of_decode_is_the_identity_on_classes():
    classes = np.arange(STICK_BUCKETS)
    np.testing.assert_array_equal(encode_stick(decode_stick(classes)), classes)
    classes = np.arange(SHOULDER_BUCKETS)
    np.testing.assert_array_equal(encode_shoulder(decode_shoulder(classes)), classes)


def test_stick_rounding_is_symmetric_and_clips_out_of_range():
    # Exact half-way values go away from zero on both sides (np.rint would not).
    assert int(encode_stick(1 / 16)) == 9 and int(encode_stick(-1 / 16)) == 7
    assert int(encode_stick(1.5)) == 16 and int(encode_stick(-7.0)) == 0
    assert int(encode_stick(np.nan)) == STICK_CENTER


def test_buttons_come_from_the_physical_bitmask_in_label_order():
    masks = np.array(BUTTON_MASKS + (0x1000, 0x0001), dtype=np.uint16)  # + Start, D-left: no label
    buttons = encode_buttons(masks)
    np.testing.assert_array_equal(buttons[:8], np.eye(8, dtype=np.uint8))
    assert buttons[8:].sum() == 0
    assert dict(zip(BUTTON_NAMES, BUTTON_MASKS, strict=True)) == {
        "A": 0x100, "B": 0x200, "X": 0x400, "Y": 0x800, "Z": 0x10, "L": 0x40, "R": 0x20, "D_UP": 0x8,
    }  # fmt: skip


def test_decode_action_returns_the_controller_state_to_send():
    row = np.zeros(LABEL_DIM, dtype=np.uint8)
    row[[0, 4]] = 1  # A and Z
    row[8:12] = [16, 8, 0, 12]
    row[12] = 2
    action = decode_action(row)
    assert action.buttons["A"] and action.buttons["Z"] and not action.buttons["B"]
    assert action.button_mask == 0x0100 | 0x0010
    assert (action.main_x, action.main_y, action.c_x, action.c_y) == (1.0, 0.0, -1.0, 0.5)
    assert action.shoulder == 0.5
    with pytest.raises(ValueError, match="13 label columns"):
        decode_action(row[:12])


def test_mirror_flips_only_stick_x_classes():
    labels = np.array([[1, 0, 0, 0, 0, 0, 0, 0, 3, 4, 15, 10, 2]], dtype=np.uint8)
    mirrored = mirror_labels(labels)
    assert mirrored[0, 8] == 13 and mirrored[0, 10] == 1
    np.testing.assert_array_equal(np.delete(mirrored, [8, 10], axis=1), np.delete(labels, [8, 10], axis=1))
    np.testing.assert_array_equal(mirror_labels(mirrored), labels)


def test_labels_of_a_real_replay_match_its_raw_inputs(shared_replays):
    path = shared_replays / "peppi__buttons_abxy.slp"
    frames, _ = read_frame_table(path)
    labels = encode_labels(frames, "p1_")
    pre = peppi_py.read_slippi(str(path)).frames.ports[0].leader.pre
    physical = pre.buttons_physical.to_numpy()
    for i, (name, mask) in enumerate(zip(BUTTON_NAMES, BUTTON_MASKS, strict=True)):
        np.testing.assert_array_equal(labels[:, i], (physical & mask) != 0, err_msg=name)
    # This replay presses A, B, X and Y: each shows up in the labels.
    assert labels[:, :4].sum(axis=0).min() > 0
    stick = pre.joystick.x.to_numpy()
    assert np.all(np.abs(decode_stick(labels[:, 8]) - stick) <= 1 / 16 + 1e-6)
    shoulder = np.maximum(pre.triggers_physical.l.to_numpy(), pre.triggers_physical.r.to_numpy())
    np.testing.assert_array_equal(labels[:, 12], encode_shoulder(shoulder))


def test_prev_action_floats_use_the_label_decoding():
    labels = np.array([[1, 0, 0, 0, 0, 1, 0, 0, 0, 8, 16, 12, 4]], dtype=np.uint8)
    floats = decode_labels_to_floats(labels)
    np.testing.assert_array_equal(floats[0], [1, 0, 0, 0, 0, 1, 0, 0, -1, 0, 1, 0.5, 1])
