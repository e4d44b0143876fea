"""The overview: the optimised metric of every trial against each hyperparameter, a panel each."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from matplotlib.figure import Figure

from sweepnet.leaderboard import Entry
from sweepnet.plots.drawing import category_ticks, log_scale, new_figure
from sweepnet.plots.params import ParamAxis, scored

__all__ = ["metric_vs_params"]

_COLUMNS = 3


def metric_vs_params(entries: Iterable[Entry], axes_by_path: Mapping[str, ParamAxis], metric: str) -> Figure | None:
    """One panel per hyperparameter: ``metric`` of every scored trial against it.

    Parameters
    ----------
    entries : ``(TrialSpec, TrialResult)`` pairs; completed or pruned trials with a finite
        ``metric`` are drawn.
    axes_by_path : the hyperparameters, in panel order (:func:`~sweepnet.plots.params.describe_params`):
        numbers at their value (log axes where the space is log), other values at their position
        in natural order, labelled.
    metric : the final metric on the y axis, e.g. ``"val_acc"``.
    """
    placed = scored(entries, metric)
    if not axes_by_path or not placed:
        return None
    columns = min(_COLUMNS, len(axes_by_path))
    rows = math.ceil(len(axes_by_path) / columns)
    figure = new_figure(4.8 * columns, 3.6 * rows)
    grid = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, axis in zip(grid, axes_by_path.values(), strict=False):
        points = [
            (axis.position(spec.params[axis.path]), result.metrics[metric])
            for spec, result in placed
            if axis.path in spec.params
        ]
        axes.scatter([x for x, _ in points], [y for _, y in points], s=14, alpha=0.7, edgecolors="none")
        if not axis.numeric:
            category_ticks(axes, axis)
        elif axis.log:
            log_scale(axes)
        axes.set(xlabel=axis.path, ylabel=metric)
    for axes in grid[len(axes_by_path) :]:
        axes.set_axis_off()
    figure.suptitle(f"{metric} of each trial against each hyperparameter")
    return figure
