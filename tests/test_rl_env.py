"""The shared env API: exact action decode, --opponent parsing, episode bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from exphil_assets.errors import UserError
from exphil_assets.features.labels import decode_action, encode_buttons, encode_shoulder, encode_stick
from exphil_assets.rl.env import EpisodeTracker, actions_to_controller, neutral_actions, parse_opponent


def _random_actions(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.empty((n, 13), np.int64)
    a[:, :8] = rng.integers(0, 2, (n, 8))
    a[:, 8:12] = rng.integers(0, 17, (n, 4))
    a[:, 12] = rng.integers(0, 5, n)
    return a


def test_batched_decode_equals_the_label_codec_row_by_row():
    actions = _random_actions(200)
    c = actions_to_controller(actions)
    for k, row in enumerate(actions):
        want = decode_action(row)
        got = (int(c.buttons[k]), c.main_x[k], c.main_y[k], c.c_x[k], c.c_y[k], c.l[k])
        assert got == (want.button_mask, want.main_x, want.main_y, want.c_x, want.c_y, want.shoulder)
    assert np.all(c.r == 0)


def test_decoded_controller_encodes_back_to_the_same_labels():
    actions = _random_actions(100, seed=1)
    c = actions_to_controller(actions)
    back = np.concatenate(
        [encode_buttons(c.buttons), np.stack([encode_stick(v) for v in (c.main_x, c.main_y, c.c_x, c.c_y)], 1),
         encode_shoulder(c.l)[:, None]], axis=1,
    )  # fmt: skip
    np.testing.assert_array_equal(back, actions)


def test_neutral_action_is_no_input():
    c = actions_to_controller(neutral_actions(2))
    assert np.all(c.buttons == 0) and np.all(c.main_x == 0) and np.all(c.c_y == 0) and np.all(c.l == 0)


def test_wrong_action_shape_is_refused():
    with pytest.raises(ValueError, match=r"\[N, 13\]"):
        actions_to_controller(np.zeros((4, 12), np.int64))


@pytest.mark.parametrize(
    "text, kind, detail",
    [("bot:approach:0.5", "bot", ("approach", 0.5)), ("bot:defensive", "bot", ("defensive", 0.5)),
     ("cpu9", "cpu", 9), ("CPU1", "cpu", 1), ("policy:/m/x_policy.json", "policy", "/m/x_policy.json")],
)  # fmt: skip
def test_opponent_specs_parse(text, kind, detail):
    spec = parse_opponent(text)
    assert spec.kind == kind
    got = {"bot": (spec.bot, spec.skill), "cpu": spec.level, "policy": spec.path}[kind]
    assert got == detail


@pytest.mark.parametrize("text", ["cpu0", "cpu10", "bot:", "bot:approach:1.5", "bot:approach:x", "human", ""])
def test_bad_opponent_specs_are_user_errors_naming_the_option(text):
    with pytest.raises(UserError, match="--opponent"):
        parse_opponent(text)


def test_episode_tracker_reports_and_clears_finished_games():
    tr = EpisodeTracker(2)
    tr.update(np.array([1.0, 2.0]), np.array([False, False]))
    ret, length = tr.update(np.array([0.5, 1.0]), np.array([True, False]))
    assert ret[0] == pytest.approx(1.5) and np.isnan(ret[1]) and length.tolist() == [2, 0]
    ret, length = tr.update(np.array([1.0, 1.0]), np.array([True, True]))
    assert ret.tolist() == [1.0, 4.0] and length.tolist() == [1, 3]
