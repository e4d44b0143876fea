"""The classic batchnorm figure: metrics against a numeric parameter, a series per value of another."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweepnet.plots.params import ParamAxis
from sweepnet.plots.split import metric_by_value
from sweepnet.records import TrialState

from .entries import entry, legend_texts

SCALES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
WEIGHT_SCALE = ParamAxis("model.weight_scale", numeric=True, log=True, values=SCALES)
NORMALIZATION = ParamAxis("model.normalization", numeric=False, values=(None, "batchnorm"))


def _grid():
    """Batchnorm trains at every scale; the baseline only at 1e-2 and 1e-1, and diverges at 1."""
    entries = []
    for scale in reversed(SCALES):  # out of order: the series are sorted by x
        for norm in (None, "batchnorm"):
            good = norm == "batchnorm" or scale in (1e-2, 1e-1)
            val = 0.9 if good else 0.1
            state = TrialState.DIVERGED if norm is None and scale == 1.0 else TrialState.COMPLETED
            rows = [
                {"epoch": 1, "loss": 2.3, "train_acc": val - 0.1},
                {"epoch": 2, "loss": 0.3 if good else 2.3, "train_acc": val + 0.05},
            ]
            if state is TrialState.DIVERGED:
                rows[-1]["loss"] = 1e4
            params = {"model.weight_scale": scale, "model.normalization": norm}
            entries.append(entry(len(entries), params, state=state, history=rows, val_acc=val, train_acc=val))
    return entries


def test_three_panels_of_one_series_per_value_on_a_log_axis():
    figure = metric_by_value(_grid(), WEIGHT_SCALE, NORMALIZATION, "val_acc", "max")
    val, train, loss = figure.axes
    assert [axes.get_title() for axes in figure.axes] == [
        "Best validation accuracy vs weight_scale",
        "Best training accuracy vs weight_scale",
        "Final training loss vs weight_scale",
    ]
    assert all(axes.get_xscale() == "log" and axes.get_xlabel() == "model.weight_scale" for axes in figure.axes)
    [legend] = figure.legends
    assert legend_texts(legend) == ["none", "batchnorm"] and legend.get_title().get_text() == "model.normalization"
    for axes in figure.axes:
        assert [line.get_label() for line in axes.lines] == ["none", "batchnorm"]
        assert all(list(line.get_xdata()) == list(SCALES) for line in axes.lines)  # sorted by x, joined: a grid
        assert all(line.get_linestyle() == "-" for line in axes.lines)
    baseline, batchnorm = val.lines
    assert list(baseline.get_ydata()) == [0.1, 0.1, 0.9, 0.9, 0.1]  # the diverged trial at 1 is drawn too
    assert list(batchnorm.get_ydata()) == [0.9] * 5
    assert list(train.lines[1].get_ydata()) == pytest.approx([0.95] * 5)  # the best epoch, not the last
    assert loss.lines[0].get_ydata()[-1] == 1e4 and loss.get_yscale() == "log"  # a blown-up loss: log axis


def test_several_trials_at_a_point_show_the_best_and_sampled_points_are_markers_only():
    entries = _grid() + [
        entry(50, {"model.weight_scale": 1e-4, "model.normalization": None}, val_acc=0.5, train_acc=0.5)
    ]
    val = metric_by_value(entries, WEIGHT_SCALE, NORMALIZATION, "val_acc", "max").axes[0]
    assert val.lines[0].get_ydata()[0] == 0.5  # the better of two baseline trials at 1e-4

    rng = np.random.default_rng(0)
    sampled = [
        entry(i, {"lr": float(10 ** rng.uniform(-4, -1)), "rule": ("sgd", "adam")[i % 2]}, val_acc=float(rng.random()))
        for i in range(12)
    ]
    lr, rule = ParamAxis("lr", numeric=True, log=True), ParamAxis("rule", numeric=False, values=("sgd", "adam"))
    figure = metric_by_value(sampled, lr, rule, "val_acc", "max")
    lines = figure.axes[0].lines
    assert [len(line.get_xdata()) for line in lines] == [6, 6]
    assert all(line.get_linestyle() == "None" for line in lines)
    assert all(np.all(np.diff(line.get_xdata()) > 0) for line in lines)
    assert all(math.isnan(y) for y in figure.axes[2].lines[0].get_ydata())  # no history, no loss


def test_no_figure_without_trials_having_both_parameters():
    entries = [entry(0, {"model.weight_scale": 1e-3}, val_acc=0.5)]
    assert metric_by_value(entries, WEIGHT_SCALE, NORMALIZATION, "val_acc", "max") is None
