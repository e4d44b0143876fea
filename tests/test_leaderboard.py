"""Ranking and rendering of the leaderboard."""

from __future__ import annotations

import csv
import io
import math

from rich.console import Console

from sweepnet.leaderboard import best, can_rank, rank, rows, to_csv, to_markdown, to_table
from sweepnet.records import TrialResult, TrialSpec, TrialState


def _entry(number, state, val=None, test=None, params=None):
    metrics = {} if val is None else {"val_acc": val}
    if test is not None:
        metrics["test_acc"] = test
    spec = TrialSpec(f"{number:040x}", number, params or {"lr": 10.0**-number}, {}, seed=number)
    history = [{"epoch": 1.0, "val_acc": val or 0.0}]
    return spec, TrialResult(spec.trial_id, state, metrics=metrics, history=history, duration_s=1.234)


ENTRIES = [
    _entry(0, TrialState.COMPLETED, 0.8, 0.79),
    _entry(1, TrialState.FAILED),
    _entry(2, TrialState.PRUNED, 0.5),
    _entry(3, TrialState.COMPLETED, 0.9, 0.88),
    _entry(4, TrialState.DIVERGED, math.nan),
]


def test_rank_orders_scored_trials_by_metric_then_the_rest_by_number():
    assert [spec.number for spec, _ in rank(ENTRIES, "val_acc", "max")] == [3, 0, 2, 1, 4]
    assert [spec.number for spec, _ in rank(ENTRIES, "val_acc", "min")] == [2, 0, 3, 1, 4]


def test_only_completed_or_pruned_trials_with_a_finite_metric_can_rank_and_be_best():
    assert [spec.number for spec, result in ENTRIES if can_rank(result, "val_acc")] == [0, 2, 3]
    assert not can_rank(ENTRIES[0][1], "loss")  # a metric the trial did not report
    assert best(ENTRIES, "val_acc", "max")[0].number == 3
    assert best(ENTRIES, "val_acc", "min")[0].number == 2
    assert best([ENTRIES[1], ENTRIES[4]], "val_acc", "max") is None
    assert best([], "val_acc", "max") is None


def test_ties_go_to_more_epochs_then_lower_training_loss_then_the_searchers_order():
    def tied(number, epochs, loss=None):
        spec = TrialSpec(f"{number:040x}", number, {"lr": 1.0}, {}, seed=number)
        metrics = {"val_acc": 0.9} if loss is None else {"val_acc": 0.9, "loss": loss}
        history = [{"epoch": float(epoch)} for epoch in range(1, epochs + 1)]
        return spec, TrialResult(spec.trial_id, TrialState.COMPLETED, metrics=metrics, history=history)

    entries = [
        tied(0, 12, 0.1),
        tied(1, 40, 0.3),
        tied(2, 40, 0.2),
        tied(3, 40),
        tied(4, 40, math.nan),
        tied(5, 40, 0.2),
    ]
    assert [spec.number for spec, _ in rank(entries, "val_acc", "max")] == [2, 5, 1, 3, 4, 0]


def test_rows_have_test_metric_and_every_param_column():
    conditional = _entry(5, TrialState.COMPLETED, 0.1, params={"momentum": 0.9})
    header, table = rows([*ENTRIES, conditional], "val_acc", "max")
    assert header == ["rank", "trial", "id", "state", "val_acc", "test_acc", "epochs", "seconds", "lr", "momentum"]
    assert table[0][:6] == [1, 3, "00000000", "COMPLETED", 0.9, 0.88]
    assert table[-1][-2:] == [1e-4, None]
    momentum_row = next(row for row in table if row[1] == 5)
    assert momentum_row[-2:] == [None, 0.9]


def test_no_test_column_without_test_metrics():
    header, _ = rows([_entry(0, TrialState.COMPLETED, 0.5)], "val_acc", "max")
    assert "test_acc" not in header


def test_csv_and_markdown_render_every_trial():
    parsed = list(csv.reader(io.StringIO(to_csv(ENTRIES, "val_acc", "max"))))
    assert len(parsed) == 1 + len(ENTRIES)
    assert parsed[1][3] == "COMPLETED" and parsed[2][4] == "0.8"
    markdown = to_markdown(ENTRIES, "val_acc", "max").splitlines()
    assert markdown[1].startswith("| ---") and len(markdown) == 2 + len(ENTRIES)


def test_table_limits_rows():
    console = Console(width=200, record=True)
    console.print(to_table(ENTRIES, "val_acc", "max", limit=2, title="best"))
    text = console.export_text()
    assert "COMPLETED" in text and "FAILED" not in text and "best" in text
