"""The median stopping rule on scripted, interleaved report sequences."""

from __future__ import annotations

import pytest

from sweepnet.records import TrialState
from sweepnet.search import MedianPruner


def _pruner(mode: str = "max", **options: int) -> MedianPruner:
    return MedianPruner(metric="val_acc", mode=mode, max_epochs=10, **options)


def test_stops_below_the_median_of_the_others_at_the_same_epoch() -> None:
    pruner = _pruner(warmup_epochs=0, min_trials=3)
    for trial, value in [("a", 0.5), ("b", 0.6), ("c", 0.7)]:
        pruner.report(trial, 1, value)
    assert pruner.report("d", 1, 0.55)  # median of 0.5, 0.6, 0.7 is 0.6
    assert not pruner.report("e", 1, 0.6)  # equal to the median: not worse
    assert not pruner.report("f", 1, 0.8)
    assert not pruner.report("g", 2, 0.1)  # nobody else reported epoch 2 yet


def test_warmup_and_min_trials() -> None:
    pruner = _pruner(warmup_epochs=2, min_trials=2)
    for epoch in (1, 2, 3):
        pruner.report("a", epoch, 0.9)
        pruner.report("b", epoch, 0.9)
    assert not pruner.report("c", 1, 0.1)
    assert not pruner.report("c", 2, 0.1)
    assert pruner.report("c", 3, 0.1)
    assert not pruner.report("d", 4, 0.1)  # nobody else reported epoch 4


def test_interleaved_trials_are_judged_on_what_was_reported_so_far() -> None:
    pruner = _pruner(warmup_epochs=0, min_trials=2)
    assert not pruner.report("a", 1, 0.30)
    assert not pruner.report("b", 1, 0.50)
    assert not pruner.report("a", 2, 0.40)  # first report of epoch 2
    assert pruner.report("c", 1, 0.35)  # others: 0.30, 0.50 -> median 0.40
    assert not pruner.report("b", 2, 0.60)  # others at epoch 2: a only
    assert pruner.report("c", 2, 0.45)  # others: a 0.40, b 0.60 -> median 0.50
    assert not pruner.report("a", 3, 0.9)


def test_min_mode_stops_the_larger_losses() -> None:
    pruner = _pruner(mode="min", warmup_epochs=0, min_trials=2)
    pruner.report("a", 1, 1.0)
    pruner.report("b", 1, 2.0)
    assert pruner.report("c", 1, 1.6)
    assert not pruner.report("d", 1, 1.4)


def test_a_re_report_replaces_the_trials_own_value() -> None:
    pruner = _pruner(warmup_epochs=0, min_trials=2)
    pruner.report("a", 1, 0.2)
    pruner.report("b", 1, 0.4)
    pruner.report("a", 1, 0.6)  # a retry of trial a: its old 0.2 is not another trial
    assert pruner.report("c", 1, 0.45)  # others: a 0.6, b 0.4 -> median 0.5
    pruner.complete("a", TrialState.FAILED)


@pytest.mark.parametrize("value", [float("nan"), float("-inf")])
def test_non_finite_values_are_worst(value: float) -> None:
    pruner = _pruner(warmup_epochs=0, min_trials=1)
    pruner.report("a", 1, 0.1)
    assert pruner.report("b", 1, value)
