"""Closed-loop games in the mock environment: counts, differentials, head to head."""

from __future__ import annotations

import pytest
import torch

from exphil_assets.evaluation.closed_loop import play_games, run_closed_loop
from exphil_assets.features.state import feature_spec
from exphil_assets.nets.policy import Policy, PolicyConfig
from exphil_assets.rl.sim_constants import COUNTDOWN_FRAMES

MAX_FRAMES = 90  # gameplay frames per game: short games keep the test fast


def _loop_policy(backbone: str, seed: int) -> Policy:
    torch.manual_seed(seed)
    spec = feature_spec()
    config = PolicyConfig(spec.float_dim, spec.id_vocab_sizes, backbone=backbone, hidden=(16, 16))
    return Policy(config)


def test_games_against_a_scripted_bot_add_up_and_end_by_the_frame_limit():
    result = play_games(_loop_policy("mlp", 0), "bot:approach:0.5", 3, MAX_FRAMES, 0, "me", "approach")
    assert (result.policy, result.opponent, result.games) == ("me", "approach", 3)
    assert result.wins + result.losses + result.draws == 3
    assert result.win_rate == pytest.approx(result.wins / 3)
    # every game ends on time at the latest: countdown plus the gameplay frames
    assert 0 < result.mean_game_frames <= COUNTDOWN_FRAMES + MAX_FRAMES
    assert -4 <= result.stock_differential <= 4


def test_same_seed_gives_the_same_games():
    a = play_games(_loop_policy("mlp", 1), "bot:random", 2, MAX_FRAMES, 7, "p", "random")
    b = play_games(_loop_policy("mlp", 1), "bot:random", 2, MAX_FRAMES, 7, "p", "random")
    assert a == b


def test_run_closed_loop_plays_every_opponent_and_every_pair_head_to_head():
    threads = torch.get_num_threads()
    policies = {"mlp_a": _loop_policy("mlp", 2), "gru_b": _loop_policy("gru", 3)}
    report = run_closed_loop(policies, games=2, max_frames=60, opponents=(("random", "bot:random"),))
    assert [(m.policy, m.opponent) for m in report.scripted] == [("mlp_a", "random"), ("gru_b", "random")]
    assert [(m.policy, m.opponent) for m in report.head_to_head] == [("mlp_a", "gru_b")]
    assert report.win_rate("mlp_a") == report.scripted[0].win_rate
    assert report.win_rate("nobody") is None
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="games"):
        run_closed_loop(policies, games=0, max_frames=60)
