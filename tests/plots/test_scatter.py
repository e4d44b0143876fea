"""The overview: the metric of every trial against each hyperparameter."""

from __future__ import annotations

import math

from sweepnet.plots.params import ParamAxis
from sweepnet.plots.scatter import metric_vs_params
from sweepnet.records import TrialState

from .entries import entry, tick_texts

LR = ParamAxis("solver.lr", numeric=True, log=True)
RULE = ParamAxis("solver.update_rule", numeric=False, values=("sgd", "adam"))
HIDDEN = ParamAxis("model.hidden_dims", numeric=False, values=([256], [512], [1024]))


def test_a_panel_per_parameter_log_axes_for_log_spaces_and_choices_in_natural_order():
    entries = [
        entry(0, {"solver.lr": 1e-3, "solver.update_rule": "adam", "model.hidden_dims": [1024]}, val_acc=0.5),
        entry(1, {"solver.lr": 1e-1, "solver.update_rule": "sgd", "model.hidden_dims": [256]}, val_acc=0.7),
        entry(2, {"solver.lr": 1e-2, "solver.update_rule": "sgd", "model.hidden_dims": [512]}, state=TrialState.FAILED),
        entry(3, {"solver.lr": 1e-2, "solver.update_rule": "adam", "model.hidden_dims": [512]}, val_acc=math.nan),
    ]
    figure = metric_vs_params(
        entries, {"solver.lr": LR, "solver.update_rule": RULE, "model.hidden_dims": HIDDEN}, "val_acc"
    )
    lr_axes, rule_axes, hidden_axes = figure.axes
    assert lr_axes.get_xscale() == "log" and rule_axes.get_xscale() == "linear"
    assert lr_axes.get_xlabel() == "solver.lr" and lr_axes.get_ylabel() == "val_acc"
    assert lr_axes.collections[0].get_offsets().tolist() == [[1e-3, 0.5], [1e-1, 0.7]]  # scored trials only
    assert tick_texts(rule_axes.get_xticklabels()) == ["sgd", "adam"]
    assert tick_texts(hidden_axes.get_xticklabels()) == ["[256]", "[512]", "[1024]"]  # not as text: [1024] first
    assert hidden_axes.collections[0].get_offsets().tolist() == [[2, 0.5], [0, 0.7]]


def test_panels_beyond_three_wrap_and_nothing_to_draw_is_none():
    axes = {f"p{i}": ParamAxis(f"p{i}", numeric=True) for i in range(4)}
    entries = [entry(i, {f"p{j}": i + j for j in range(4)}, val_acc=0.1 * i) for i in range(3)]
    figure = metric_vs_params(entries, axes, "val_acc")
    assert len(figure.axes) == 6 and sum(axes.axison for axes in figure.axes) == 4
    assert metric_vs_params(entries, {}, "val_acc") is None
