"""Hyperband: bracket layout, deterministic weighted assignment, brackets compete separately."""

from __future__ import annotations

from collections import Counter

import pytest

from sweepnet.errors import ConfigError
from sweepnet.search import HyperbandPruner


def _hyperband(**options: int | None) -> HyperbandPruner:
    return HyperbandPruner(metric="val_acc", mode="max", max_epochs=27, **options)


def _ids_in(pruner: HyperbandPruner, bracket: int, n: int) -> list[str]:
    ids = (f"trial-{i}" for i in range(10_000))
    return [trial for trial in ids if pruner.bracket(trial) == bracket][:n]


def test_brackets_have_growing_grace_periods() -> None:
    assert [b.milestones for b in _hyperband().brackets] == [[1, 3, 9], [3, 9], [9], []]
    assert [b.milestones for b in _hyperband(brackets=2).brackets] == [[1, 3, 9], [3, 9]]
    assert [b.milestones for b in _hyperband(grace_period=2, reduction_factor=2).brackets] == [
        [2, 4, 8, 16],
        [4, 8, 16],
        [8, 16],
        [16],
        [],
    ]


def test_too_many_brackets_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at most 4 brackets") as info:
        _hyperband(brackets=5)
    assert info.value.field == "pruner.brackets"


def test_assignment_is_deterministic_and_follows_hyperband_proportions() -> None:
    first, second = _hyperband(), _hyperband()
    ids = [f"{i:08x}" for i in range(4900)]
    assignment = [first.bracket(trial) for trial in ids]
    assert assignment == [second.bracket(trial) for trial in reversed(ids)][::-1]
    counts = Counter(assignment)
    shares = [27, 12, 6, 4]  # ceil(4 * 3**r / (r + 1)) for r = 3, 2, 1, 0 rungs
    for bracket, share in enumerate(shares):
        assert counts[bracket] / len(ids) == pytest.approx(share / sum(shares), abs=0.02)


def test_trials_compete_only_within_their_bracket() -> None:
    pruner = _hyperband()
    strong, weak = _ids_in(pruner, 0, 2)
    [elsewhere] = _ids_in(pruner, 1, 1)
    assert not pruner.report(strong, 1, 0.9)
    assert pruner.report(weak, 1, 0.5)  # below strong in bracket 0, rung 1
    assert not pruner.report(elsewhere, 1, 0.1)  # bracket 1 has no rung at epoch 1
    assert not pruner.report(elsewhere, 3, 0.1)  # first at bracket 1's rung 3


def test_never_pruning_bracket() -> None:
    pruner = _hyperband()
    patient = _ids_in(pruner, 3, 5)
    assert not any(pruner.report(trial, epoch, -epoch) for trial in patient for epoch in range(1, 28))


def test_min_mode() -> None:
    pruner = HyperbandPruner(metric="loss", mode="min", max_epochs=27)
    good, bad = _ids_in(pruner, 0, 2)
    assert not pruner.report(good, 1, 0.2)
    assert pruner.report(bad, 1, 0.8)
