"""A metric against a numeric hyperparameter, one series per value of a categorical one.

The classic batchnorm figure: best validation accuracy, best training accuracy and final
training loss against the weight initialisation scale (log axis), baseline and batchnorm
(:func:`metric_by_value`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sweepnet.leaderboard import Entry, rank
from sweepnet.plots.compare import value_colours
from sweepnet.plots.drawing import log_scale, new_figure, task_metrics
from sweepnet.plots.params import ParamAxis
from sweepnet.records import TrialResult, TrialState

__all__ = ["metric_by_value"]

# Diverged trials are drawn too: where a scale makes training blow up is what this figure shows.
_DRAWN_STATES = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.DIVERGED)
_LOG_LOSS_RATIO = 50.0  # a loss panel spanning more than this factor gets a log axis


def metric_by_value(entries: Iterable[Entry], x: ParamAxis, by: ParamAxis, metric: str, mode: str) -> Figure | None:
    """Best validation metric, best training metric and final training loss against ``x``, one
    series per value of ``by``.

    Parameters
    ----------
    entries : ``(TrialSpec, TrialResult)`` pairs; completed, pruned and diverged trials are drawn.
    x : a numeric hyperparameter (:attr:`ParamAxis.numeric`; a log axis when :attr:`ParamAxis.log`).
    by : a discrete hyperparameter with a few values (:attr:`ParamAxis.small`).
    metric, mode : what picks one trial where several share an ``(x, by)`` point (other
        hyperparameters vary): the best by the leaderboard's order.

    Returns
    -------
    The figure, or None when no trial has both parameters. A grid ``x`` is drawn as lines
    through its points; sampled values as markers only.
    """
    entries = list(entries)
    names = task_metrics(metric, entries)
    better = max if names.higher_is_better else min
    panels: list[tuple[str, Callable[[TrialResult], float]]] = [
        (f"Best validation {names.title}", lambda result: result.metrics.get(names.val, math.nan)),
        (f"Best training {names.title}", lambda result: _best_of_history(result, names.train, better)),
        ("Final training loss", _final_loss),
    ]
    points: dict[int, list[tuple[float, TrialResult]]] = {}
    for index, chosen in _chosen(entries, x, by, metric, mode).items():
        points[index] = sorted(((float(spec.params[x.path]), result) for spec, result in chosen), key=lambda p: p[0])
    if not points:
        return None
    figure = new_figure(15, 4.5)
    axes_row = figure.subplots(1, len(panels), sharex=True)
    labels, colours = by.labels(), value_colours(len(by.values))
    style = "o-" if x.discrete else "o"
    for axes, (title, value_of) in zip(axes_row, panels, strict=True):
        for index in sorted(points):
            xs = [position for position, _ in points[index]]
            ys = [value_of(result) for _, result in points[index]]
            axes.plot(xs, ys, style, markersize=4, color=colours[index], label=labels[index])
        axes.set(title=f"{title} vs {x.name}", xlabel=x.path, ylabel=title)
        if x.log:
            log_scale(axes)
    _loss_scale(axes_row[-1])
    handles, legend_labels = axes_row[0].get_legend_handles_labels()
    figure.legend(handles, legend_labels, loc="outside right upper", title=by.path)
    figure.suptitle(f"Against {x.path}, one series per {by.path}")
    return figure


def _chosen(entries: list[Entry], x: ParamAxis, by: ParamAxis, metric: str, mode: str) -> dict[int, list[Entry]]:
    """Per value index of ``by``: the drawn trials, one per ``x`` value of a grid (the best)."""
    groups: dict[tuple[int, float], list[Entry]] = {}
    for spec, result in entries:
        if result.state not in _DRAWN_STATES or x.path not in spec.params or by.path not in spec.params:
            continue
        index = by.index(spec.params[by.path])
        if index >= 0:
            position = x.position(spec.params[x.path])
            key = (index, position if x.discrete else float(spec.number))  # sampled: every trial
            groups.setdefault(key, []).append((spec, result))
    chosen: dict[int, list[Entry]] = {}
    for (index, _), group in groups.items():  # the leaderboard's best; of diverged trials only, the first
        chosen.setdefault(index, []).append(rank(group, metric, mode)[0])
    return chosen


def _best_of_history(result: TrialResult, key: str, better: Callable[..., float]) -> float:
    values = [row[key] for row in result.history if math.isfinite(row.get(key, math.nan))]
    return better(values) if values else result.metrics.get(key, math.nan)


def _final_loss(result: TrialResult) -> float:
    if result.history and "loss" in result.history[-1]:
        return result.history[-1]["loss"]
    return result.metrics.get("loss", math.nan)


def _loss_scale(axes: Axes) -> None:
    """A log axis for a loss panel whose values span more than :data:`_LOG_LOSS_RATIO` (diverged trials)."""
    ys = (np.asarray(line.get_ydata(), dtype=float) for line in axes.lines)
    values = [y for line_ys in ys for y in line_ys if math.isfinite(y) and y > 0]
    if values and max(values) / min(values) > _LOG_LOSS_RATIO:
        log_scale(axes, "y")
