"""Learning-rate schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest

from train.schedule import Schedule


def test_cosine_warms_up_linearly_then_decays_to_the_floor() -> None:
    schedule = Schedule("cosine", peak=1.0, total=110, warmup=10, min_ratio=0.1)
    assert schedule(0) == pytest.approx(0.1) and schedule(9) == pytest.approx(1.0)
    assert schedule(10) == pytest.approx(1.0)
    assert schedule(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # halfway: 0.55
    assert schedule(110) == pytest.approx(0.1) and schedule(500) == pytest.approx(0.1)


def test_wsd_holds_the_peak_then_decays_linearly_over_the_last_fraction() -> None:
    schedule = Schedule("wsd", peak=2.0, total=100, warmup=5, min_ratio=0.0, decay_fraction=0.2)
    assert schedule(4) == pytest.approx(2.0) and schedule(50) == pytest.approx(2.0) and schedule(79) == 2.0
    assert schedule(80) == pytest.approx(2.0) and schedule(90) == pytest.approx(1.0)
    assert schedule(100) == pytest.approx(0.0)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="warmup"):
        Schedule("cosine", peak=1.0, total=10, warmup=20)
    with pytest.raises(ValueError, match="min_ratio"):
        Schedule("wsd", peak=1.0, total=10, min_ratio=2.0)
