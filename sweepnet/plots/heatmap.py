"""The classic learning rate x regularisation pictures: a metric over two hyperparameters.

:func:`param_heatmap` draws the training and the validation metric side by side. Over a grid
(two discrete parameters) each cell holds the best trial of that point, annotated with its value
in black or white, whichever reads on the cell's colour; sampled points (random search, TPE)
are a scatter coloured by the metric, on log axes where the space is log.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from sweepnet.leaderboard import Entry, rank
from sweepnet.plots.drawing import (
    TaskMetrics,
    category_ticks,
    log_scale,
    new_figure,
    readable_text_colour,
    task_metrics,
)
from sweepnet.plots.params import ParamAxis, scored

__all__ = ["param_heatmap"]

_MAX_CELLS_PER_AXIS = 25  # a discrete axis with more values is drawn as a scatter
_MAX_ANNOTATED = 400  # cells beyond which values are left to the colour bar
_INCH_PER_CELL = 0.5


def param_heatmap(
    entries: Iterable[Entry], x: ParamAxis, y: ParamAxis, metric: str, mode: str, others: Sequence[str] = ()
) -> Figure | None:
    """The training and validation metric over hyperparameters ``x`` and ``y``.

    Parameters
    ----------
    entries : ``(TrialSpec, TrialResult)`` pairs; completed or pruned trials with a finite
        ``metric`` are drawn.
    x, y : the two hyperparameters (horizontal, vertical).
    metric, mode : the sweep's metric: which trial stands for a grid cell (the leaderboard's best).
    others : the other hyperparameters that vary, named in the title (a cell is the best over them).

    Returns
    -------
    The figure (one panel per metric: training then validation), or None when no trial has both.
    """
    entries = list(entries)
    placed = [(spec, result) for spec, result in scored(entries, metric) if {x.path, y.path} <= spec.params.keys()]
    if not placed:
        return None
    names = task_metrics(metric, entries)
    shown = [key for key in (names.train, names.val) if any(key in result.metrics for _, result in placed)] or [metric]
    grid = x.discrete and y.discrete and max(len(x.values), len(y.values)) <= _MAX_CELLS_PER_AXIS
    if grid:
        figure, panels = _panels(len(shown), len(x.values), len(y.values))
        chosen = _best_per_cell(placed, x, y, metric, mode)
        for axes, key in zip(panels, shown, strict=True):
            _cells(figure, axes, chosen, x, y, key, names)
        what = f"each cell: the best trial by {metric}" + (f" over {', '.join(others)}" if others else "")
    else:
        figure, panels = _panels(len(shown), 10, 8)
        ordered = rank(placed, metric, mode)[::-1]  # the best drawn last, on top
        for axes, key in zip(panels, shown, strict=True):
            _scatter(figure, axes, ordered, x, y, key, names)
        what = "each point a trial" + (f"; {', '.join(others)} vary too" if others else "")
    titles = " and ".join(_title(key, names) for key in shown)
    figure.suptitle(f"{titles[0].upper()}{titles[1:]} over {x.name} × {y.name} ({what})")
    return figure


def _panels(count: int, columns: int, rows: int) -> tuple[Figure, list[Axes]]:
    """One panel per metric, side by side, or stacked when a panel is much wider than tall."""
    width = min(max(columns * _INCH_PER_CELL + 2.5, 6.0), 14.0)
    height = min(max(rows * _INCH_PER_CELL + 1.8, 3.5), 10.0)
    stacked = count > 1 and width > 2 * height
    figure = new_figure(width if stacked else width * count, height * count if stacked else height)
    panels = figure.subplots(count, 1) if stacked else figure.subplots(1, count)
    return figure, list(np.atleast_1d(panels))


def _best_per_cell(
    placed: list[Entry], x: ParamAxis, y: ParamAxis, metric: str, mode: str
) -> dict[tuple[int, int], Entry]:
    """``(row, column)`` -> the best trial at that grid point."""
    cells: dict[tuple[int, int], list[Entry]] = {}
    for spec, result in placed:
        row, column = y.index(spec.params[y.path]), x.index(spec.params[x.path])
        if row >= 0 and column >= 0:
            cells.setdefault((row, column), []).append((spec, result))
    return {cell: rank(group, metric, mode)[0] for cell, group in cells.items()}


def _cells(
    figure: Figure,
    axes: Axes,
    chosen: dict[tuple[int, int], Entry],
    x: ParamAxis,
    y: ParamAxis,
    key: str,
    names: TaskMetrics,
) -> None:
    """An annotated heat map of ``key``; cells no trial reached are grey."""
    values = np.full((len(y.values), len(x.values)), np.nan)
    for (row, column), (_, result) in chosen.items():
        values[row, column] = result.metrics.get(key, np.nan)
    image = axes.imshow(values, origin="lower", cmap=_colour_map(names), aspect="auto")
    category_ticks(axes, x, "x")
    category_ticks(axes, y, "y")
    if values.size <= _MAX_ANNOTATED:
        size = 9 if values.size <= 64 else 7
        for (row, column), value in np.ndenumerate(values):
            if math.isfinite(value):
                colour = readable_text_colour(image.cmap(image.norm(value)))
                axes.text(column, row, _format(value, names), ha="center", va="center", color=colour, fontsize=size)
    figure.colorbar(image, ax=axes, label=key)
    axes.set(xlabel=x.path, ylabel=y.path, title=f"{_title(key, names)}, best trial per cell")


def _scatter(
    figure: Figure, axes: Axes, ordered: list[Entry], x: ParamAxis, y: ParamAxis, key: str, names: TaskMetrics
) -> None:
    """Every trial at its ``(x, y)``, coloured by ``key``."""
    points = [
        (x.position(spec.params[x.path]), y.position(spec.params[y.path]), result.metrics[key])
        for spec, result in ordered
        if key in result.metrics
    ]
    xs, ys, colours = (np.array(column, dtype=float) for column in zip(*points, strict=True))
    size = float(np.clip(3000 / len(points), 12, 90))
    collection = axes.scatter(xs, ys, c=colours, s=size, cmap=_colour_map(names), edgecolors="none")
    for axis, which in ((x, "x"), (y, "y")):
        if not axis.numeric:
            category_ticks(axes, axis, which)
        elif axis.log:
            log_scale(axes, which)
    figure.colorbar(collection, ax=axes, label=key)
    axes.set(xlabel=x.path, ylabel=y.path, title=f"{_title(key, names)} of each trial")


def _colour_map(names: TaskMetrics) -> Colormap:
    """Good is bright (yellow) whether the metric rises or falls; empty cells light grey."""
    from matplotlib import colormaps

    return colormaps["viridis" if names.higher_is_better else "viridis_r"].with_extremes(bad="0.9")


def _title(key: str, names: TaskMetrics) -> str:
    if key == names.train:
        return f"training {names.title}"
    if key == names.val:
        return f"validation {names.title}"
    return key


def _format(value: float, names: TaskMetrics) -> str:
    return f"{value:.2f}" if names.kind == "acc" else f"{value:.3g}"
