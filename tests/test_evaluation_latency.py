"""Step-mode latency and step-mode actions of a policy at batch 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from exphil_assets.evaluation.latency import FRAME_BUDGET_MS, measure_step_latency, step_actions
from exphil_assets.nets.policy import Policy, PolicyConfig

FLOAT_DIM, VOCABS = 12, (10, 5)


def _policy(backbone: str) -> Policy:
    torch.manual_seed(0)
    return Policy(PolicyConfig(FLOAT_DIM, VOCABS, backbone=backbone, hidden=(16, 16), window_size=8))


def _frames(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, FLOAT_DIM, generator=gen), torch.randint(0, 5, (n, len(VOCABS)), generator=gen)


def test_latency_times_the_requested_steps_and_judges_60fps_by_p99():
    policy = _policy("mlp")
    floats, ids = _frames(7)
    threads_before = torch.get_num_threads()
    result = measure_step_latency(policy, floats, ids, steps=30, warmup=3)

    assert result.steps == 30 and result.batch == 1 and result.warmup == 3
    assert 0 < result.median_ms <= result.p99_ms <= result.max_ms
    assert result.frame_budget_ms == pytest.approx(1000 / 60)
    assert result.fps60_capable == (result.p99_ms < FRAME_BUDGET_MS)
    assert result.torch_threads == 1
    assert torch.get_num_threads() == threads_before  # restored
    assert policy.training  # a fresh module trains; the measurement must not leave it in eval mode
    assert set(result.to_dict()) >= {"median_ms", "p99_ms", "fps60_capable"}


def test_latency_refuses_no_frames_and_no_steps():
    policy = _policy("mlp")
    floats, ids = _frames(3)
    with pytest.raises(ValueError, match="steps"):
        measure_step_latency(policy, floats, ids, steps=0)
    with pytest.raises(ValueError, match="no frames"):
        measure_step_latency(policy, floats[:0], ids[:0], steps=5)


def test_step_actions_equal_act_called_frame_by_frame_with_carried_state():
    policy = _policy("lstm").eval()
    floats, ids = _frames(10, seed=1)
    actions = step_actions(policy, floats, ids)

    state = policy.init_state(1)
    expected = []
    for t in range(10):
        state, action = policy.act(state, floats[t : t + 1], ids[t : t + 1])
        expected.append(action[0].numpy())
    assert actions.shape == (10, 13)
    np.testing.assert_array_equal(actions, np.stack(expected))
    # labels layout: buttons are bits, sticks 17 buckets, shoulder 5
    assert actions[:, :8].max() <= 1 and actions[:, 8:12].max() <= 16 and actions[:, 12].max() <= 4
