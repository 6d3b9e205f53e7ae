"""Closed-loop matches in the mock env: exactly N games, counted from the policy's side."""

from __future__ import annotations

import torch
from tiny_policies import tiny_policy

from exphil_assets.nets.heads import CATEGORICAL_HEADS
from exphil_assets.nets.policy import Policy
from exphil_assets.rl.rollout import play_match, uses_prev_action
from exphil_assets.rl.simulator import SimConfig

SHORT = SimConfig(stocks=1, timer_frames=120, countdown_frames=0)
LONG = SimConfig(stocks=1, timer_frames=900, countdown_frames=0)


def scripted_policy(main_x_bucket: int) -> Policy:
    """A policy that never presses a button and holds the main stick x in one bucket (0 full left, 8 neutral)."""
    policy = tiny_policy("mlp")
    with torch.no_grad():
        heads = policy.heads
        heads.first.bias[:8] = -30.0
        heads.output_layer.weight.zero_()
        heads.output_layer.bias.fill_(-30.0)
        for (name, _, _), (_, out_rows, _) in zip(CATEGORICAL_HEADS, heads.blocks, strict=True):
            heads.output_layer.bias[out_rows.start + {"main_x": main_x_bucket, "shoulder": 0}.get(name, 8)] = 30.0
    return policy


def test_match_plays_exactly_the_requested_games():
    r = play_match(tiny_policy("mlp"), "bot:approach:1.0", games=6, sim_config=SHORT, seed=0)
    assert r.games == 6 and r.wins + r.losses + r.draws == 6
    assert r.win_rate == r.wins / 6
    assert 0 < r.mean_game_frames <= 120


def test_a_policy_that_runs_off_the_stage_loses_every_game():
    r = play_match(scripted_policy(0), "bot:defensive:0.0", games=3, sim_config=LONG, seed=0,
                   deterministic=True)  # fmt: skip
    assert r.losses == 3 and r.stock_differential == -1.0


def test_head_to_head_against_a_policy_that_runs_off_the_stage_wins_every_game():
    r = play_match(scripted_policy(8), scripted_policy(0), games=3, sim_config=LONG, seed=0,
                   deterministic=True)  # fmt: skip
    assert r.wins == 3 and r.stock_differential == 1.0


def test_prev_action_use_is_read_off_the_input_width():
    assert not uses_prev_action(tiny_policy("mlp"))
