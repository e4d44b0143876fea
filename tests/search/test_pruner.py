"""The Pruner base class and the ``none`` pruner."""

from __future__ import annotations

import math
import random

import pytest

from sweepnet.errors import ConfigError
from sweepnet.records import TrialState
from sweepnet.search import ASHAPruner, HyperbandPruner, MedianPruner, NoPruner, Pruner


def test_no_pruner_never_stops() -> None:
    pruner = NoPruner(metric="val_acc", mode="max", max_epochs=5)
    assert not any(pruner.report(f"t{i}", epoch, -i) for i in range(20) for epoch in range(1, 6))
    pruner.complete("t0", TrialState.COMPLETED)


@pytest.mark.parametrize("cls", [NoPruner, MedianPruner, ASHAPruner, HyperbandPruner])
@pytest.mark.parametrize("max_epochs", [0, -3, 2.5, True])
def test_max_epochs_must_be_a_positive_integer(cls: type[Pruner], max_epochs: object) -> None:
    with pytest.raises(ConfigError, match="max_epochs"):
        cls(metric="val_acc", mode="max", max_epochs=max_epochs)


@pytest.mark.parametrize("cls", [NoPruner, MedianPruner, ASHAPruner, HyperbandPruner])
def test_unknown_option_names_the_key(cls: type[Pruner]) -> None:
    with pytest.raises(ConfigError, match="unknown key") as info:
        cls(metric="val_acc", mode="max", max_epochs=9, patience=2)
    assert info.value.field == "pruner.patience"


def test_mode_is_validated() -> None:
    with pytest.raises(ConfigError, match="'max' or 'min'"):
        NoPruner(metric="loss", mode="minimize", max_epochs=3)


def test_scores_are_oriented_higher_is_better() -> None:
    assert NoPruner(metric="acc", mode="max", max_epochs=1)._score(0.9) == 0.9
    assert NoPruner(metric="loss", mode="min", max_epochs=1)._score(0.9) == -0.9
    for mode in ("max", "min"):
        for bad in (math.nan, math.inf, -math.inf):
            assert NoPruner(metric="m", mode=mode, max_epochs=1)._score(bad) == -math.inf


@pytest.mark.parametrize("cls", [NoPruner, MedianPruner, ASHAPruner, HyperbandPruner])
def test_a_pruner_stops_trials_only_at_its_decision_epochs(cls: type[Pruner]) -> None:
    pruner = cls(metric="val_acc", mode="max", max_epochs=30)
    rng = random.Random(0)
    stops = []
    for epoch in range(1, 31):  # concurrent trials at every epoch, in shuffled order
        for trial in rng.sample(range(40), 40):
            if pruner.report(f"t{trial}", epoch, rng.random()):
                stops.append((f"t{trial}", epoch))
    assert stops or cls is NoPruner
    for trial_id, epoch in stops:
        epochs = pruner.decision_epochs(trial_id)
        assert epochs is None or epoch in epochs
    assert list(NoPruner(metric="val_acc", mode="max", max_epochs=5).decision_epochs("t0")) == []
    assert MedianPruner(metric="val_acc", mode="max", max_epochs=5).decision_epochs("t0") is None
    assert list(ASHAPruner(metric="val_acc", mode="max", max_epochs=30).decision_epochs("t0")) == [1, 3, 9, 27]
