"""One trial's curves: loss per epoch, and the train / validation metric per epoch."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["trial_curves"]

_METRIC_TITLES = {"acc": "Classification accuracy", "rmse": "RMSE"}


def trial_curves(history: Sequence[Mapping[str, float]], title: str = "") -> Figure | None:
    """Loss per epoch (left) and every ``train_*`` / ``val_*`` metric per epoch (right).

    The epoch axis ends at the last epoch; the loss and metric axes at round values
    (:func:`_curve_limits`), so that curves of trials of a sweep are drawn to the same scale.

    Parameters
    ----------
    history : one mapping per epoch, e.g. ``{"epoch": 1, "loss": .., "train_acc": .., "val_acc": ..}``.
    title : the figure's title, e.g. the trial's name.

    Returns
    -------
    The figure, or None when there is no epoch to draw.
    """
    if not history:
        return None
    keys = _split_keys(history)
    figure = _curves_figure(keys, _curve_limits(history, keys))
    _set_curves(figure, history)
    figure.suptitle(title)
    return figure


def _epochs(history: Sequence[Mapping[str, float]]) -> list[float]:
    """Each row's ``epoch``, or its 1-based position when it has none."""
    return [row.get("epoch", index) for index, row in enumerate(history, start=1)]


def _split_keys(history: Sequence[Mapping[str, float]]) -> tuple[str, ...]:
    """The ``train_*`` / ``val_*`` metrics of a trial's history, in its order."""
    return tuple(key for key in history[0] if key.startswith(("train_", "val_")))


_Limits = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]  # epochs, loss, metric


def _curve_limits(history: Sequence[Mapping[str, float]], keys: tuple[str, ...]) -> _Limits:
    """The axes' limits of :func:`trial_curves`: epochs up to the last one, the loss and the
    metrics from and to round values (accuracy 0 to 1), padded so no point sits on a spine."""
    epochs = max(_epochs(history))
    losses = [row.get("loss", math.nan) for row in history]
    metrics = [row.get(key, math.nan) for row in history for key in keys]
    accuracy = bool(keys) and all(key.endswith("_acc") for key in keys)
    return (
        (0.5, epochs + 0.5),
        _padded(_round_range(losses)),
        _padded((0.0, 1.0) if accuracy else _round_range(metrics)),
    )


def _round_range(values: Iterable[float]) -> tuple[float, float]:
    """The smallest range from and to 0 or +-1, 2, 2.5, 5 x 10^k holding the finite ``values``."""
    finite = [value for value in values if math.isfinite(value)]
    low, high = min(finite, default=0.0), max(finite, default=1.0)
    bottom = -_round_up(-low) if low < 0 else 0.0
    top = _round_up(high) if high > 0 else 0.0
    return (bottom, top) if top > bottom else (bottom, bottom + 1.0)


def _round_up(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at least ``value`` (> 0)."""
    scale = 10.0 ** math.floor(math.log10(value))
    return next(step * scale for step in (1.0, 2.0, 2.5, 5.0, 10.0) if step * scale >= value)


def _padded(limits: tuple[float, float]) -> tuple[float, float]:
    low, high = limits
    margin = 0.05 * (high - low)
    return low - margin, high + margin


def _curves_figure(split_keys: tuple[str, ...], limits: _Limits) -> Figure:
    """The two panels of :func:`trial_curves` at ``limits``, titled and labelled, with empty lines."""
    figure = Figure(figsize=(10, 4))
    # A fixed layout (room for the titles and labels) rather than a tight bounding box, which
    # costs a second drawing of the figure for every PNG.
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.84, wspace=0.22)
    loss_axes, metric_axes = figure.subplots(1, 2)
    loss_axes.plot([], [], "o-")
    loss_axes.set(title="Training loss", xlabel="Epoch", ylabel="Loss")
    for key in split_keys:
        metric_axes.plot([], [], "o-", label=key.replace("_", " "))
    kinds = sorted({key.split("_", 1)[1] for key in split_keys})  # "acc", "rmse" ...
    names = " / ".join(_METRIC_TITLES.get(kind, kind) for kind in kinds)
    metric_axes.set(title=names or "Metrics", xlabel="Epoch", ylabel=names)
    if split_keys:
        metric_axes.legend()
    epochs, loss, metric = limits
    loss_axes.set(xlim=epochs, ylim=loss)
    metric_axes.set(xlim=epochs, ylim=metric)
    for axes in figure.axes:
        locator = axes.xaxis.get_major_locator()
        if isinstance(locator, MaxNLocator):  # the default AutoLocator is one
            locator.set_params(integer=True)
    return figure


def _set_curves(figure: Figure, history: Sequence[Mapping[str, float]]) -> None:
    """Put ``history`` on the lines of a :func:`_curves_figure`."""
    epochs = _epochs(history)
    loss_axes, metric_axes = figure.axes
    loss_axes.lines[0].set_data(epochs, [row.get("loss", math.nan) for row in history])
    for line, key in zip(metric_axes.lines, _split_keys(history), strict=False):
        line.set_data(epochs, [row.get(key, math.nan) for row in history])
