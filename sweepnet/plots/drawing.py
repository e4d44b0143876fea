"""What every figure of a sweep shares: the figure itself, PNG output, tick labels, text colours, metric names."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sweepnet.leaderboard import Entry
from sweepnet.plots.params import ParamAxis

__all__ = [
    "TaskMetrics",
    "caption",
    "category_ticks",
    "log_scale",
    "new_figure",
    "readable_text_colour",
    "task_metrics",
    "to_png",
]

_CHARS_PER_INCH = 11  # tick label characters that fit in an inch at the default 10 pt font
_TITLES = {"acc": "accuracy", "rmse": "RMSE"}


def new_figure(width: float, height: float) -> Figure:
    """A figure (no ``pyplot``: no global state, safe on any thread) whose layout keeps titles,
    labels, legends and colour bars from overlapping."""
    return Figure(figsize=(width, height), layout="constrained")


def to_png(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def caption(figure: Figure) -> str:
    """The figure's title (or its first panel's), to name it in a report."""
    title = figure.get_suptitle()
    if not title and figure.axes:
        title = figure.axes[0].get_title()
    return " ".join(title.split())


def category_ticks(axes: Axes, axis: ParamAxis, which: str = "x") -> None:
    """Label the ticks of a categorical axis with ``axis``'s values in their natural order (at
    0, 1, 2 ..., the axis spanning them and half a step on either side), slanted when they would
    not fit side by side."""
    labels = axis.labels()
    ticks = list(range(len(labels)))
    limits = (-0.5, len(labels) - 0.5)
    if which == "y":
        axes.set_yticks(ticks, labels)
        axes.set_ylim(*limits)
        return
    axes.set_xticks(ticks, labels)
    axes.set_xlim(*limits)
    figure = axes.get_figure(root=True)
    assert figure is not None, "axes drawn on belong to a figure"
    width = axes.get_position().width * figure.get_figwidth()
    if sum(len(label) + 2 for label in labels) > width * _CHARS_PER_INCH:
        axes.tick_params(axis="x", labelrotation=35)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def log_scale(axes: Axes, which: str = "x") -> None:
    """A log axis whose labels never crowd: matplotlib labels the minor ticks of a range under a
    decade wide (``2x10^-2 3x10^-2 4x10^-2 ...``, overlapping); here ticks sit at 1, 2 and 5 times
    the powers of ten, labelled plainly (``0.02``, ``0.05``, ``0.1``), the minor ones unlabelled."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from sweepnet.plots.params import value_label

    axis = axes.xaxis if which == "x" else axes.yaxis
    (axes.set_xscale if which == "x" else axes.set_yscale)("log")
    low, high = axes.get_xlim() if which == "x" else axes.get_ylim()
    if low > 0 and high / low < 1e3:  # wider ranges get matplotlib's labels, one per decade
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: value_label(float(value))))
    axis.set_minor_formatter(NullFormatter())


def readable_text_colour(rgba: Sequence[float] | np.ndarray) -> str:
    """``"black"`` or ``"white"``, whichever contrasts more with a background of colour ``rgba``
    (WCAG relative luminance: black on yellow, white on dark blue)."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgba[:3])
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    # Contrast with black is (L + 0.05) / 0.05, with white 1.05 / (L + 0.05): equal at L = 0.179.
    return "black" if luminance > math.sqrt(1.05 * 0.05) - 0.05 else "white"


@dataclass(frozen=True)
class TaskMetrics:
    """The metric names of a sweep's task.

    Attributes
    ----------
    kind : ``"acc"`` (classification) or ``"rmse"`` (regression).
    train, val : ``"train_acc"``, ``"val_acc"`` (or ``"train_rmse"``, ``"val_rmse"``).
    title : ``"accuracy"`` or ``"RMSE"``.
    higher_is_better : True for accuracy.
    """

    kind: str
    train: str
    val: str
    title: str
    higher_is_better: bool


def task_metrics(metric: str, entries: Iterable[Entry]) -> TaskMetrics:
    """The task's metric names, from ``metric`` (``val_acc``, ``test_rmse`` ...) or, for ``loss``,
    from what the trials report."""
    kind = metric.rsplit("_", 1)[-1] if metric.endswith(("_acc", "_rmse")) else None
    if kind is None:
        reported = {key for _, result in entries for key in result.metrics}
        kind = "rmse" if "val_rmse" in reported else "acc"
    return TaskMetrics(kind, f"train_{kind}", f"val_{kind}", _TITLES.get(kind, kind), kind == "acc")
