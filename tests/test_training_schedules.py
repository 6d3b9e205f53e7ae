"""Learning-rate schedules: the formulas, warmup, and decay_steps defaulting to the run length."""

from __future__ import annotations

import math

import pytest
import torch

from exphil_assets.training.schedules import make_schedule, set_lr


def test_constant_is_one_after_warmup():
    s = make_schedule("constant", total_steps=100, warmup_steps=4)
    assert [s.factor(i) for i in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert s.factor(10_000) == 1.0


def test_warmup_is_linear_and_reaches_the_peak_on_its_last_step():
    s = make_schedule("cosine", total_steps=1000, warmup_steps=10)
    assert s.factor(0) == pytest.approx(0.1)
    assert s.factor(9) == pytest.approx(1.0)
    assert s.factor(10) == pytest.approx(1.0)  # decay starts at p = 0


def test_decay_steps_default_to_the_total_number_of_steps():
    s = make_schedule("linear", total_steps=200)
    assert s.decay_steps == 200
    assert s.factor(100) == pytest.approx(0.5)
    assert s.factor(200) == 0.0 and s.factor(500) == 0.0


def test_cosine_formula_with_floor():
    s = make_schedule("cosine", total_steps=110, warmup_steps=10, min_lr_ratio=0.1)
    for step in (10, 35, 60, 85, 110):
        p = (step - 10) / 100
        assert s.factor(step) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
    assert s.factor(60) == pytest.approx(0.55)


def test_exponential_reaches_the_decay_rate_at_decay_steps():
    s = make_schedule("exponential", total_steps=1000, decay_steps=100, exp_decay_rate=0.01)
    assert s.factor(0) == 1.0
    assert s.factor(50) == pytest.approx(0.1)
    assert s.factor(100) == pytest.approx(0.01)
    assert s.factor(1000) == pytest.approx(0.01)


def test_explicit_decay_steps_win_over_the_run_length():
    assert make_schedule("linear", total_steps=1000, decay_steps=10).factor(5) == pytest.approx(0.5)


def test_cosine_restarts_restart_each_cycle():
    s = make_schedule("cosine_restarts", total_steps=400, restart_steps=100)
    assert s.factor(0) == s.factor(100) == s.factor(200) == 1.0
    assert s.factor(50) == pytest.approx(0.5)
    assert s.factor(99) < 0.01


def test_set_lr_writes_every_param_group():
    opt = torch.optim.AdamW([{"params": [torch.zeros(1, requires_grad=True)]},
                             {"params": [torch.zeros(1, requires_grad=True)]}], lr=1.0)
    lr = set_lr(opt, 3e-4, make_schedule("linear", total_steps=10), step=5)
    assert lr == pytest.approx(1.5e-4)
    assert [g["lr"] for g in opt.param_groups] == [lr, lr]
