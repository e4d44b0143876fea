"""The classic loss history: the training loss of every iteration (``plt.plot(solver.loss_history, 'o')``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sweepnet.plots.compare import value_colours
from sweepnet.plots.drawing import log_scale, new_figure

__all__ = ["loss_history"]

_LOG_RATIO = 100.0  # a loss spanning more than this factor gets a log axis


def loss_history(
    curves: Mapping[str, np.ndarray], title: str = "Training loss", legend_title: str | None = None
) -> Figure | None:
    """Loss against iteration, one series per curve, in the given order.

    Parameters
    ----------
    curves : label -> ``(K, 2)`` array of ``(iteration, loss)`` rows (``TrialResult.iteration_loss``),
        e.g. ``{"trial 7": ...}`` or ``{"adam": ..., "sgd": ...}``.
    title : the figure's title.
    legend_title : the legend's title (e.g. the parameter whose values label the curves);
        a single curve has no legend.

    Returns
    -------
    The figure, or None when no curve has a point.
    """
    drawn = {label: np.asarray(curve, dtype=float) for label, curve in curves.items() if len(curve)}
    if not drawn:
        return None
    figure = new_figure(9, 4.5)
    axes = figure.subplots()
    colours = value_colours(len(drawn))
    single = len(drawn) == 1
    for colour, (label, curve) in zip(colours, drawn.items(), strict=True):
        # One trial as the classic draws it, a dot per iteration; several as lines that can be told apart.
        style: dict[str, Any] = {"marker": "o", "markersize": 2, "linestyle": "none"} if single else {"linewidth": 1}
        axes.plot(curve[:, 0], curve[:, 1], color=colour, label=label, alpha=0.8, **style)
    axes.set(title=title, xlabel="Iteration", ylabel="Loss")
    last = max(curve[-1, 0] for curve in drawn.values())
    axes.set_xlim(0, last * 1.01)
    _log_when_wide(axes, [curve[:, 1] for curve in drawn.values()])
    if not single:  # beside the axes: inside, it would hide part of some curve
        figure.legend(loc="outside right upper", title=legend_title)
    return figure


def _log_when_wide(axes: Axes, losses: Sequence[np.ndarray]) -> None:
    values = np.concatenate(losses)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() > _LOG_RATIO:
        log_scale(axes, "y")
