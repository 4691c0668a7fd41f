"""Schedules: values at chosen steps, config round trips, argument validation."""

from __future__ import annotations

import math

import pytest

from dlcore.errors import ConfigError
from dlcore.schedules import (
    Constant,
    CosineDecay,
    StepDecay,
    WarmupLinearScaling,
    as_schedule,
    schedule_from_config,
    schedule_to_config,
)


def test_warmup_linear_scaling_follows_goyal_et_al():
    # batch 8192 = 32 x 256: target 0.1 * 32 = 3.2, reached linearly from 0.1 over 100 steps
    s = WarmupLinearScaling(0.1, 8192, warmup_steps=100)
    assert s.target == pytest.approx(3.2)
    assert s(0) == pytest.approx(0.1)
    assert s(50) == pytest.approx(0.1 + 3.1 * 0.5)
    assert s(99) == pytest.approx(0.1 + 3.1 * 0.99)
    assert s(100) == pytest.approx(3.2)
    assert s(10_000) == pytest.approx(3.2)


def test_warmup_linear_scaling_hands_over_to_the_next_schedule():
    after = CosineDecay(0.4, decay_steps=10)
    s = WarmupLinearScaling(0.1, 1024, base_batch_size=256, warmup_steps=4, after=after)
    assert [s(t) for t in range(5)] == pytest.approx([0.1, 0.175, 0.25, 0.325, 0.4])
    assert s(9) == pytest.approx(0.4 * 0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert s(14) == pytest.approx(0.0)


def test_warmup_without_warmup_steps_is_the_scaled_rate():
    s = WarmupLinearScaling(0.2, 128, warmup_steps=0)
    assert s(0) == s(7) == pytest.approx(0.1)


def test_warmup_rejects_a_following_schedule_that_starts_elsewhere():
    with pytest.raises(
        ConfigError, match=r"after must start at the scaled .* 0\.4 .* starting at 0\.1"
    ):
        WarmupLinearScaling(0.1, 1024, warmup_steps=4, after=Constant(0.1))


def test_step_decay():
    s = StepDecay(0.1, step_size=3, gamma=0.5)
    assert [s(t) for t in (0, 2, 3, 5, 6, 9)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]
    )


def test_cosine_decay_without_warmup():
    s = CosineDecay(1.0, decay_steps=4, alpha=0.1)
    assert s(0) == pytest.approx(1.0)
    assert s(2) == pytest.approx(0.1 + 0.9 * 0.5)
    assert s(4) == pytest.approx(0.1)
    assert s(100) == pytest.approx(0.1)


def test_cosine_decay_with_warmup():
    s = CosineDecay(0.8, decay_steps=2, warmup_steps=4)
    assert [s(t) for t in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert [s(t) for t in (4, 5, 6, 50)] == pytest.approx([0.8, 0.4, 0.0, 0.0])


@pytest.mark.parametrize(
    "schedule",
    [
        Constant(0.5),
        StepDecay(0.1, 10, 0.3),
        CosineDecay(0.1, 100, alpha=0.01, warmup_steps=7),
        WarmupLinearScaling(0.1, 512, base_batch_size=128, warmup_steps=5),
        WarmupLinearScaling(
            0.1, 512, base_batch_size=128, warmup_steps=5, after=StepDecay(0.4, 10, 0.1)
        ),
    ],
    ids=lambda s: type(s).__name__,
)
def test_config_round_trip(schedule):
    spec = schedule_to_config(schedule)
    back = schedule_from_config(spec)
    assert type(back) is type(schedule)
    assert schedule_to_config(back) == spec
    assert [back(t) for t in range(0, 40, 3)] == [schedule(t) for t in range(0, 40, 3)]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: StepDecay(0, 10), r"initial must be a finite number > 0\. Received: 0"),
        (lambda: StepDecay(0.1, 0), r"step_size must be an integer >= 1\. Received: 0"),
        (
            lambda: StepDecay(0.1, 10, gamma=1.5),
            r"gamma must be a number in \(0, 1\]\. Received: 1\.5",
        ),
        (lambda: CosineDecay(float("inf"), 10), r"initial must be .* Received: inf"),
        (lambda: CosineDecay(0.1, 2.5), r"decay_steps must be an integer >= 1\. Received: 2\.5"),
        (
            lambda: CosineDecay(0.1, 10, alpha=-0.1),
            r"alpha must be a number in \[0, 1\]\. Received: -0\.1",
        ),
        (lambda: CosineDecay(0.1, 10, warmup_steps=-1), r"warmup_steps must be .* Received: -1"),
        (
            lambda: WarmupLinearScaling(-1.0, 256, warmup_steps=1),
            r"base_lr must be .* Received: -1\.0",
        ),
        (
            lambda: WarmupLinearScaling(0.1, True, warmup_steps=1),
            r"batch_size must be .* Received: True",
        ),
        (
            lambda: WarmupLinearScaling(0.1, 256, base_batch_size=0, warmup_steps=1),
            r"base_batch_size must be an integer >= 1\. Received: 0",
        ),
        (
            lambda: WarmupLinearScaling(0.1, 256, warmup_steps=1, after=0.1),
            r"after must be a Schedule",
        ),
        (
            lambda: as_schedule("0.1"),
            r"learning_rate must be a number or a Schedule\. Received: '0\.1'",
        ),
    ],
)
def test_bad_arguments_name_argument_and_value(factory, message):
    with pytest.raises(ConfigError, match=message):
        factory()


def test_unknown_schedule_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown schedule .*Known schedules: \['Constant', "):
        schedule_from_config({"type": "Exponential", "config": {}})


def test_bad_schedule_config_is_a_config_error():
    with pytest.raises(ConfigError, match="invalid config for schedule StepDecay"):
        schedule_from_config({"type": "StepDecay", "config": {"initial": 0.1, "steps": 3}})
