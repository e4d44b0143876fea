"""Variants side by side: the classic update-rule, batchnorm and dropout comparisons.

For a hyperparameter with a few values (update rules, normalisation on / off, keep ratios), the
best trial of each value is drawn in its own colour: training loss, training and validation
metric per epoch (:func:`compare_values`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sweepnet.leaderboard import Entry, rank
from sweepnet.plots.drawing import new_figure, task_metrics
from sweepnet.plots.params import ParamAxis, scored

__all__ = ["best_of_each_value", "compare_values", "value_colours"]


def best_of_each_value(entries: Iterable[Entry], axis: ParamAxis, metric: str, mode: str) -> list[tuple[str, Entry]]:
    """``(label, best entry)`` for each value of ``axis`` that a scored trial took, in the
    values' natural order; the best by the leaderboard's order (``metric``, ``mode``)."""
    groups: dict[int, list[Entry]] = {}
    for spec, result in scored(entries, metric):
        if axis.path in spec.params and (index := axis.index(spec.params[axis.path])) >= 0:
            groups.setdefault(index, []).append((spec, result))
    labels = axis.labels()
    return [(labels[index], rank(groups[index], metric, mode)[0]) for index in sorted(groups)]


def value_colours(count: int) -> list[tuple[float, float, float, float]]:
    """One distinct colour per value (matplotlib's ``tab10``), in the values' order."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(index % palette.N) for index in range(count)]


def compare_values(entries: Iterable[Entry], axis: ParamAxis, metric: str, mode: str) -> Figure | None:
    """Training loss, training metric and validation metric per epoch of the best trial of each
    value of ``axis``: one colour per value, a legend naming the values.

    Parameters
    ----------
    entries : ``(TrialSpec, TrialResult)`` pairs with per-epoch ``history``.
    axis : a discrete hyperparameter (:attr:`ParamAxis.small`).
    metric, mode : what picks the best trial of each value, e.g. ``"val_acc"``, ``"max"``.

    Returns
    -------
    The figure (three panels sharing the epoch axis, which ends at the last epoch drawn), or
    None when fewer than two values have a trial with a history.
    """
    entries = list(entries)
    best = [(label, entry) for label, entry in best_of_each_value(entries, axis, metric, mode) if entry[1].history]
    if len(best) < 2:
        return None
    names = task_metrics(metric, entries)
    panels = [("loss", "Training loss", "Loss")]
    panels += [
        (names.train, f"Training {names.title}", names.title),
        (names.val, f"Validation {names.title}", names.title),
    ]
    figure = new_figure(14, 4.2)
    axes_row = figure.subplots(1, len(panels), sharex=True)
    colours = dict(zip(axis.labels(), value_colours(len(axis.values)), strict=True))
    for axes, (key, title, ylabel) in zip(axes_row, panels, strict=True):
        for label, (_, result) in best:
            epochs, values = _series(result.history, key)
            axes.plot(epochs, values, "o-", markersize=3, color=colours[label], label=label)
        axes.set(title=title, xlabel="Epoch", ylabel=ylabel)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    last = max(_series(result.history, "loss")[0][-1] for _, (_, result) in best)
    axes_row[0].set_xlim(1 - 0.02 * last - 0.3, last + 0.02 * last + 0.3)  # the axis ends at the last epoch
    handles, labels = axes_row[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", title=axis.path)
    figure.suptitle(f"Best trial of each {axis.path} (by {metric}), per epoch")
    return figure


def _series(history: Sequence[Mapping[str, float]], key: str) -> tuple[list[float], list[float]]:
    """Epochs and ``key`` of a trial's history (NaN where an epoch lacks it)."""
    epochs = [row.get("epoch", number) for number, row in enumerate(history, start=1)]
    return epochs, [row.get(key, math.nan) for row in history]
