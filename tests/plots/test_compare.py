"""Variants side by side: the best trial of each value, one colour per value, per epoch."""

from __future__ import annotations

import pytest

from sweepnet.plots.compare import best_of_each_value, compare_values
from sweepnet.plots.params import ParamAxis
from sweepnet.records import TrialState

from .entries import entry, history, legend_texts

RULE = ParamAxis("solver.update_rule", numeric=False, values=("sgd", "sgd_momentum", "rmsprop", "adam"))


def _rule_entries():
    """Two trials per rule but rmsprop (absent); the second of each is better; adam has 5 epochs, the rest 10."""
    entries = []
    for rule, epochs in (("adam", 5), ("sgd", 10), ("sgd_momentum", 10)):
        for better in (False, True):
            rows = history(epochs, scale=1.0 if better else 2.0)
            score = 0.8 + 0.1 * better + 0.01 * RULE.index(rule)
            entries.append(entry(len(entries), {"solver.update_rule": rule}, history=rows, val_acc=score))
    entries.append(entry(99, {"solver.update_rule": "rmsprop"}, state=TrialState.FAILED))
    return entries


def test_one_line_per_value_in_every_panel_coloured_as_its_legend_entry():
    figure = compare_values(_rule_entries(), RULE, "val_acc", "max")
    loss, train, val = figure.axes
    assert [axes.get_title() for axes in figure.axes] == ["Training loss", "Training accuracy", "Validation accuracy"]
    [legend] = figure.legends
    assert legend_texts(legend) == ["sgd", "sgd_momentum", "adam"]  # natural order; rmsprop never scored
    assert legend.get_title().get_text() == "solver.update_rule"
    for axes in figure.axes:
        assert [line.get_label() for line in axes.lines] == ["sgd", "sgd_momentum", "adam"]
        colours = [line.get_color() for line in axes.lines]
        assert colours == [handle.get_color() for handle in legend.legend_handles] and len(set(map(str, colours))) == 3
    # the better trial of each rule (loss 1/epoch, not 2/epoch), its epochs on x
    assert list(loss.lines[2].get_xdata()) == [1, 2, 3, 4, 5]
    assert list(loss.lines[0].get_ydata()) == pytest.approx([1 / e for e in range(1, 11)])
    assert list(val.lines[1].get_ydata()) == pytest.approx([0.9 - 0.5 / e for e in range(1, 11)])


def test_the_epoch_axis_ends_at_the_last_epoch():
    figure = compare_values(_rule_entries(), RULE, "val_acc", "max")
    low, high = figure.axes[0].get_xlim()
    assert 10 < high < 11 and 0 < low < 1
    assert all(axes.get_xlim() == (low, high) for axes in figure.axes)
    assert all(tick == int(tick) for tick in figure.axes[0].get_xticks())


def test_regression_compares_rmse_and_the_best_is_the_lowest():
    entries = [
        entry(0, {"model.hidden_dims": [32]}, val_rmse=70.0,
              history=[{"epoch": 1, "loss": 3.0, "train_rmse": 60.0, "val_rmse": 70.0}]),
        entry(1, {"model.hidden_dims": [32]}, val_rmse=55.0,
              history=[{"epoch": 1, "loss": 2.0, "train_rmse": 50.0, "val_rmse": 55.0}]),
        entry(2, {"model.hidden_dims": [64]}, val_rmse=58.0,
              history=[{"epoch": 1, "loss": 2.5, "train_rmse": 52.0, "val_rmse": 58.0}]),
    ]  # fmt: skip
    axis = ParamAxis("model.hidden_dims", numeric=False, values=([32], [64]))
    assert [(label, spec.number) for label, (spec, _) in best_of_each_value(entries, axis, "val_rmse", "min")] == [
        ("[32]", 1),
        ("[64]", 2),
    ]
    figure = compare_values(entries, axis, "val_rmse", "min")
    assert figure.axes[2].get_title() == "Validation RMSE"
    assert [line.get_ydata()[0] for line in figure.axes[2].lines] == [55.0, 58.0]


def test_nothing_to_compare_with_a_single_value():
    entries = [entry(0, {"solver.update_rule": "adam"}, history=history(3), val_acc=0.9)]
    assert compare_values(entries, RULE, "val_acc", "max") is None
