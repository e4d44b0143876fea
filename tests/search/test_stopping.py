"""StopCriteria: sample count, time budget and target, in both directions."""

from __future__ import annotations

import pytest

from sweepnet.errors import ConfigError
from sweepnet.search import StopCriteria


def test_no_criteria_never_stops() -> None:
    assert not StopCriteria().should_stop(10**6, 1e9, 1.0)


def test_num_samples() -> None:
    criteria = StopCriteria(num_samples=3)
    assert not criteria.should_stop(2, 0.0, None)
    assert criteria.should_stop(3, 0.0, None)


def test_time_budget() -> None:
    criteria = StopCriteria(time_budget_s=60)
    assert not criteria.should_stop(0, 59.9, None)
    assert criteria.should_stop(0, 60.0, None)


@pytest.mark.parametrize(
    ("mode", "best", "stops"),
    [("max", None, False), ("max", 0.97, False), ("max", 0.98, True), ("min", 0.99, False), ("min", 0.98, True)],
)
def test_target_respects_mode(mode: str, best: float | None, stops: bool) -> None:
    assert StopCriteria(target=0.98, mode=mode).should_stop(1, 0.0, best) is stops


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"num_samples": 0}, "num_samples"), ({"time_budget_s": -1.0}, "time_budget_s"), ({"mode": "up"}, "mode")],
)
def test_invalid_criteria(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        StopCriteria(**kwargs)
    assert info.value.field == field
