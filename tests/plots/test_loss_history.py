"""The classic loss history: training loss against iteration."""

from __future__ import annotations

import numpy as np

from sweepnet.plots.loss_history import loss_history

from .entries import curve, legend_texts


def test_one_trial_is_a_dot_per_iteration_without_a_legend():
    figure = loss_history({"trial 3": curve(500)})
    [axes] = figure.axes
    [line] = axes.lines
    assert line.get_linestyle() == "None" and line.get_marker() == "o"
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 501))
    assert (axes.get_xlabel(), axes.get_ylabel(), axes.get_title()) == ("Iteration", "Loss", "Training loss")
    assert not figure.legends and axes.get_legend() is None and axes.get_yscale() == "linear"
    assert axes.get_xlim()[1] < 510


def test_several_trials_are_lines_named_in_a_legend_in_order():
    figure = loss_history({"sgd": curve(300), "adam": curve(300, start=1.0)}, "Training loss", "solver.update_rule")
    axes = figure.axes[0]
    assert [line.get_label() for line in axes.lines] == ["sgd", "adam"]
    [legend] = figure.legends
    assert legend_texts(legend) == ["sgd", "adam"] and legend.get_title().get_text() == "solver.update_rule"
    assert axes.get_legend() is None  # outside the axes, hiding no curve
    assert len({str(line.get_color()) for line in axes.lines}) == 2


def test_a_loss_spanning_decades_gets_a_log_axis_and_no_points_no_figure():
    blown_up = np.array([[1, 2.3], [2, 50.0], [3, 1e4]], dtype=np.float32)
    assert loss_history({"trial 0": blown_up}).axes[0].get_yscale() == "log"
    assert loss_history({}) is None
    assert loss_history({"trial 0": np.zeros((0, 2), np.float32)}) is None
