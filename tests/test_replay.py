"""Finding a recorded trial by number or id prefix, and comparing a re-run with its record."""

from __future__ import annotations

import math

import pytest

from sweepnet.errors import ConfigError
from sweepnet.records import TrialResult, TrialSpec, TrialState
from sweepnet.replay import config_differences, history_difference, select_trial


def _entry(number: int, trial_id: str) -> tuple[TrialSpec, TrialResult]:
    return TrialSpec(trial_id, number, {}, {}, seed=number), TrialResult(trial_id, TrialState.COMPLETED)


ENTRIES = [_entry(0, "3fa9c2d1" + "0" * 32), _entry(1, "3fa0aaaa" + "1" * 32), _entry(12, "12ab" + "2" * 36),
           _entry(3, "b0b0" + "3" * 36)]  # fmt: skip


@pytest.mark.parametrize(
    ("selector", "number"),
    [("0", 0), ("1", 1), ("12", 12), ("3fa9", 0), ("3FA0", 1), ("b0", 3), ("12ab", 12), ("3", 3)],
)
def test_a_number_wins_then_a_unique_id_prefix(selector, number):
    assert select_trial(ENTRIES, selector, "s")[0].number == number


def test_an_ambiguous_prefix_lists_the_trials_it_could_mean():
    with pytest.raises(ConfigError, match=r"^--trial: '3fa' is ambiguous in sweep 's': the ids of 3fa9c2d10000 "
                                          r"\(trial 0\), 3fa0aaaa1111 \(trial 1\) start with it$"):  # fmt: skip
        select_trial(ENTRIES, "3fa", "s")


def test_an_unknown_trial_names_the_numbers_there_are():
    with pytest.raises(ConfigError, match=r"has no trial 7 and no trial id starting with it; .* numbered 0 to 12$"):
        select_trial(ENTRIES, "7", "s")
    with pytest.raises(ConfigError, match=r"it has no recorded trials$"):
        select_trial([], "0", "s")
    with pytest.raises(ConfigError, match=r"^--trial: give a trial number or the start of a trial id$"):
        select_trial(ENTRIES, " ", "s")


ROWS = [{"epoch": 1, "loss": 2.0, "val_acc": 0.5}, {"epoch": 2, "loss": 1.0, "val_acc": 0.75}]


def test_a_history_that_repeats_the_recorded_epochs_has_no_difference():
    assert history_difference(ROWS, ROWS) is None
    assert history_difference([*ROWS, {"epoch": 3, "loss": 0.5, "val_acc": 0.8}], ROWS) is None  # ran on past a pruner
    assert history_difference(ROWS[:1], ROWS) is None  # told to stop earlier
    nan = [{"epoch": 1, "loss": math.nan}]
    assert history_difference(nan, nan) is None


@pytest.mark.parametrize(
    ("history", "difference"),
    [
        ([ROWS[0], {**ROWS[1], "val_acc": 0.7500000001}], "epoch 2: val_acc 0.7500000001, recorded 0.75"),
        ([{**ROWS[0], "lr": 0.1}, ROWS[1]], "epoch 1: lr is new"),
        ([{"epoch": 1, "loss": 2.0}, ROWS[1]], "epoch 1: val_acc is missing"),
    ],
)
def test_the_first_departure_from_the_record_is_named(history, difference):
    assert history_difference(history, ROWS) == difference


def test_config_differences_name_every_changed_leaf():
    recorded = {"model": {"name": "fc", "hidden_dims": [64]}, "solver": {"num_epochs": 4, "batch_size": 64}}
    config = {"model": {"name": "fc", "hidden_dims": [32]}, "solver": {"num_epochs": 4, "lr_decay": 0.9}}
    assert config_differences(config, recorded) == [
        "model.hidden_dims: [32] (recorded: [64])",
        "solver.batch_size: (not set) (recorded: 64)",
        "solver.lr_decay: 0.9 (recorded: (not set))",
    ]
    assert config_differences(recorded, recorded) == []
