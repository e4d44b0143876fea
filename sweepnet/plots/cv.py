"""The classic "k vs cross-validated accuracy": every fold's score and the mean +/- std per value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from matplotlib.figure import Figure

from sweepnet.leaderboard import Entry
from sweepnet.plots.drawing import category_ticks, log_scale, new_figure
from sweepnet.plots.params import ParamAxis, scored

__all__ = ["cv_errorbars"]


def cv_errorbars(entries: Iterable[Entry], axes_by_path: Mapping[str, ParamAxis], metric: str) -> Figure | None:
    """Cross-validated trials: each fold's ``metric`` and the mean +/- std, against a hyperparameter.

    Trials report ``<metric>_std`` and ``<metric>_fold<i>`` (and ``<metric>_mean`` or ``metric``
    itself as the mean). The x axis is the hyperparameter with the most distinct values among
    them (k of a kNN), in its natural order; the trial number when none varies. None when no
    trial was cross-validated.
    """
    folded = [(spec, result) for spec, result in scored(entries, metric) if f"{metric}_std" in result.metrics]
    if not folded:
        return None
    candidates = [axis for axis in axes_by_path.values() if all(axis.path in spec.params for spec, _ in folded)]
    axis = max(candidates, key=lambda a: len({repr(spec.params[a.path]) for spec, _ in folded}), default=None)
    positions = [axis.position(spec.params[axis.path]) if axis else float(spec.number) for spec, _ in folded]
    figure = new_figure(7, 4.5)
    axes = figure.subplots()
    fold_x, fold_y = [], []
    for position, (_, result) in zip(positions, folded, strict=True):
        folds = [value for key, value in result.metrics.items() if key.startswith(f"{metric}_fold")]
        fold_x += [position] * len(folds)
        fold_y += folds
    axes.scatter(fold_x, fold_y, color="tab:blue", alpha=0.5, s=18, label="one fold")
    order = np.argsort(positions, kind="stable")
    means = [result.metrics.get(f"{metric}_mean", result.metrics[metric]) for _, result in folded]
    stds = [result.metrics[f"{metric}_std"] for _, result in folded]
    joined = len(set(positions)) == len(positions)  # join the means only when one trial per x
    x, y, err = (np.asarray(values)[order] for values in (positions, means, stds))
    axes.errorbar(x, y, err, fmt="-o" if joined else "o", color="tab:red", capsize=4, label="mean ± std")
    if axis is not None and not axis.numeric:
        category_ticks(axes, axis)
    elif axis is not None and axis.log:
        log_scale(axes)
    name = axis.path if axis else "trial"
    axes.set(xlabel=name, ylabel=f"cross-validated {metric}", title=f"Cross-validation on {name}")
    axes.legend()
    return figure
