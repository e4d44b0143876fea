"""What the figures share: tick labels that do not crowd, metric names, captions."""

from __future__ import annotations

import math

from sweepnet.plots.drawing import caption, category_ticks, log_scale, new_figure, task_metrics
from sweepnet.plots.params import ParamAxis

from .entries import entry, tick_texts


def _labels(axes, which):
    """The visible labels of an axis once drawn."""
    axes.figure.canvas.draw()
    ticks = axes.xaxis if which == "x" else axes.yaxis
    low, high = sorted(axes.get_xlim() if which == "x" else axes.get_ylim())
    majors = [t for t, label in zip(ticks.get_majorticklocs(), ticks.get_majorticklabels(), strict=True)
              if low <= t <= high and label.get_text()]  # fmt: skip
    minors = [label.get_text() for label in ticks.get_minorticklabels() if label.get_text()]
    return [label.get_text() for label in ticks.get_majorticklabels() if label.get_text()], majors, minors


def test_a_log_axis_under_three_decades_is_labelled_at_1_2_5_times_powers_of_ten_without_minor_labels():
    axes = new_figure(5, 3).subplots()
    axes.plot([0.012, 0.3], [0, 1])
    log_scale(axes)
    texts, positions, minors = _labels(axes, "x")
    assert minors == []
    assert set(positions) <= {0.01, 0.02, 0.05, 0.1, 0.2, 0.5} and len(positions) >= 4
    assert {"0.02", "0.05", "0.1", "0.2"} <= set(texts)


def test_a_log_axis_over_many_decades_keeps_one_label_per_decade():
    axes = new_figure(5, 3).subplots()
    axes.plot([1e-4, 1.0], [0, 1])
    log_scale(axes)
    _, positions, minors = _labels(axes, "x")
    assert minors == [] and all(abs(math.log10(p) % 1) < 1e-9 for p in positions)


def test_long_category_labels_are_slanted_short_ones_are_not():
    rules = ParamAxis(
        "solver.update_rule", numeric=False, values=("sgd", "sgd_momentum", "sgd_nesterov_momentum", "rmsprop", "adam")
    )
    narrow = new_figure(4, 3).subplots()
    category_ticks(narrow, rules)
    assert tick_texts(narrow.get_xticklabels()) == list(rules.values)
    assert all(label.get_rotation() == 35 for label in narrow.get_xticklabels())
    short = new_figure(8, 3).subplots()
    category_ticks(short, ParamAxis("norm", numeric=False, values=(None, "batchnorm")))
    assert all(label.get_rotation() == 0 for label in short.get_xticklabels())
    column = new_figure(4, 3).subplots()
    category_ticks(column, rules, "y")
    assert tick_texts(column.get_yticklabels()) == list(rules.values)


def test_task_metrics_and_captions():
    assert task_metrics("val_acc", []).train == "train_acc"
    rmse = task_metrics("loss", [entry(0, {}, val_rmse=1.0)])
    assert (rmse.val, rmse.title, rmse.higher_is_better) == ("val_rmse", "RMSE", False)
    figure = new_figure(4, 3)
    figure.subplots().set_title("Panel")
    assert caption(figure) == "Panel"
    figure.suptitle("A  figure\nover two lines")
    assert caption(figure) == "A figure over two lines"
