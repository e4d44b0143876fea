"""The pictures of the classic notebooks, for one trial and for a whole sweep.

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``, so no
global figure state is touched and figures can be drawn on the tracker's writer thread; the
PNG comes from the Agg renderer (:func:`to_png`).

- :func:`trial_curves`: loss per epoch, and the train / validation metric per epoch.
- :func:`metric_vs_params`: the optimised metric against each hyperparameter (log axes where
  the search space is log).
- :func:`param_heatmap`: the metric over two numeric hyperparameters (learning rate x
  regularisation), a heatmap for grids and a coloured scatter for sampled points.
- :func:`cv_errorbars`: mean +/- std over cross-validation folds ("k vs accuracy").
- :func:`first_layer_weights`: the first layer's weights of a model on images, as a grid.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sweepnet.core.vis import visualize_grid
from sweepnet.leaderboard import Entry
from sweepnet.records import TrialState

__all__ = [
    "cv_errorbars",
    "first_layer_weights",
    "image_shape",
    "metric_vs_params",
    "param_heatmap",
    "sweep_plots",
    "to_png",
    "trial_curves",
]

_PLOTTED_STATES = (TrialState.COMPLETED, TrialState.PRUNED)
_METRIC_TITLES = {"acc": "Classification accuracy", "rmse": "RMSE"}
_MAX_GRID_VALUES = 12  # above this many distinct values per axis a heatmap cell grid is unreadable



def to_png(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def trial_curves(history: Sequence[Mapping[str, float]], title: str = "") -> Figure | None:
    """Loss per epoch (left) and every ``train_*`` / ``val_*`` metric per epoch (right).

    The axes end at round values (:func:`_curve_limits`), so that curves of trials of a sweep
    are drawn to the same scale.

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
    """The axes' limits of :func:`trial_curves`: epochs up to a round number, the loss and the
    metrics from and to round values (accuracy 0 to 1), padded so no point sits on a spine."""
    epochs = max(_epochs(history))
    losses = [row.get("loss", math.nan) for row in history]
    metrics = [row.get(key, math.nan) for row in history for key in keys]
    accuracy = bool(keys) and all(key.endswith("_acc") for key in keys)
    return (
        (0.5, _round_up(epochs) + 0.5),
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
        axes.xaxis.get_major_locator().set_params(integer=True)
    return figure


def _set_curves(figure: Figure, history: Sequence[Mapping[str, float]]) -> None:
    """Put ``history`` on the lines of a :func:`_curves_figure`."""
    epochs = _epochs(history)
    loss_axes, metric_axes = figure.axes
    loss_axes.lines[0].set_data(epochs, [row.get("loss", math.nan) for row in history])
    for line, key in zip(metric_axes.lines, _split_keys(history)):
        line.set_data(epochs, [row.get(key, math.nan) for row in history])


def metric_vs_params(entries: Iterable[Entry], metric: str, log_params: set[str]) -> Figure | None:
    """One panel per hyperparameter that varies: ``metric`` of every scored trial against it.

    Parameters
    ----------
    entries : ``(TrialSpec, TrialResult)`` pairs; completed or pruned trials with a finite
        ``metric`` are drawn.
    metric : the final metric on the y axis, e.g. ``"val_acc"``.
    log_params : dotted paths of hyperparameters drawn on a log x axis (``loguniform`` spaces).
    """
    scored = _scored(entries, metric)
    paths = _varying_params(scored)
    if not paths:
        return None
    columns = min(3, len(paths))
    rows = math.ceil(len(paths) / columns)
    figure = Figure(figsize=(4.5 * columns, 3.5 * rows))
    axes_grid = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, path in zip(axes_grid, paths, strict=False):
        values = _values(scored, path)
        scores = [result.metrics[metric] for spec, result in scored if path in spec.params]
        if _numeric(values):
            axes.scatter(values, scores)
            if path in log_params:
                axes.set_xscale("log")
        else:
            labels = sorted({str(value) for value in values})
            axes.scatter([labels.index(str(value)) for value in values], scores)
            axes.set_xticks(range(len(labels)), labels)
        axes.set(xlabel=path, ylabel=metric)
    for axes in axes_grid[len(paths) :]:
        axes.set_axis_off()
    figure.suptitle(f"{metric} against each hyperparameter")
    return figure


def param_heatmap(entries: Iterable[Entry], metric: str, mode: str, log_params: set[str]) -> Figure | None:
    """``metric`` over the two numeric hyperparameters with the most distinct values.

    A grid of few values per axis becomes a heatmap whose cells hold the best ``metric`` (by
    ``mode``) of the trials at that point; sampled points become the classic scatter coloured
    by ``metric``, on log axes where the space is log. None with fewer than two such parameters.
    """
    scored = _scored(entries, metric)
    numeric = [path for path in _varying_params(scored) if _numeric(_values(scored, path))]
    if len(numeric) < 2:
        return None
    distinct = {path: sorted(set(_values(scored, path))) for path in numeric}
    x_path, y_path = sorted(numeric, key=lambda path: -len(distinct[path]))[:2]  # stable: config order breaks ties
    points = [
        (spec.params[x_path], spec.params[y_path], result.metrics[metric])
        for spec, result in scored
        if {x_path, y_path} <= set(spec.params)
    ]
    figure = Figure(figsize=(6, 5))
    axes = figure.subplots()
    xs, ys = distinct[x_path], distinct[y_path]
    if len(xs) <= _MAX_GRID_VALUES and len(ys) <= _MAX_GRID_VALUES:
        cells = _best_per_cell(points, xs, ys, mode)
        image = axes.imshow(cells, origin="lower", cmap="viridis", aspect="auto")
        axes.set_xticks(range(len(xs)), [f"{x:.3g}" for x in xs])
        axes.set_yticks(range(len(ys)), [f"{y:.3g}" for y in ys])
        for (row, column), value in np.ndenumerate(cells):
            if np.isfinite(value):
                axes.text(column, row, f"{value:.3g}", ha="center", va="center", color="w", fontsize=8)
    else:
        x_values, y_values, scores = zip(*points, strict=True)
        image = axes.scatter(x_values, y_values, c=scores, s=80, cmap="viridis")
        axes.set_xscale("log" if x_path in log_params else "linear")
        axes.set_yscale("log" if y_path in log_params else "linear")
    figure.colorbar(image, ax=axes, label=metric)
    short_x, short_y = x_path.rsplit(".", 1)[-1], y_path.rsplit(".", 1)[-1]
    axes.set(xlabel=x_path, ylabel=y_path, title=f"{metric} over {short_x} x {short_y}")
    return figure


def cv_errorbars(entries: Iterable[Entry], metric: str, log_params: set[str]) -> Figure | None:
    """Cross-validated trials: each fold's ``metric`` and the mean +/- std, against a hyperparameter.

    Trials report ``<metric>_std`` and ``<metric>_fold<i>`` (and ``<metric>_mean`` or ``metric``
    itself as the mean). The x axis is the hyperparameter with the most distinct values
    (the classic "k vs accuracy" picture). None when no trial was cross-validated.
    """
    folded = [(spec, result) for spec, result in _scored(entries, metric) if f"{metric}_std" in result.metrics]
    if not folded:
        return None
    paths = _varying_params(folded)
    x_path = max(paths, key=lambda path: len({str(spec.params.get(path)) for spec, _ in folded}), default=None)
    xs = [spec.params.get(x_path) if x_path else spec.number for spec, _ in folded]
    categorical = not _numeric(xs)
    labels = sorted({str(x) for x in xs})
    positions = [labels.index(str(x)) if categorical else x for x in xs]
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for position, (_, result) in zip(positions, folded, strict=True):
        folds = [value for key, value in result.metrics.items() if key.startswith(f"{metric}_fold")]
        axes.scatter([position] * len(folds), folds, color="tab:blue", alpha=0.5)
    order = np.argsort(positions, kind="stable")
    means = [result.metrics.get(f"{metric}_mean", result.metrics[metric]) for _, result in folded]
    stds = [result.metrics[f"{metric}_std"] for _, result in folded]
    line = "-" if len(set(map(str, xs))) == len(xs) else "o"  # join the means only when one trial per x
    x, y, err = (np.asarray(values)[order] for values in (positions, means, stds))
    axes.errorbar(x, y, err, fmt=line, color="tab:red", capsize=4)
    if categorical:
        axes.set_xticks(range(len(labels)), labels)
    elif x_path in log_params:
        axes.set_xscale("log")
    axes.set(xlabel=x_path or "trial", ylabel=f"cross-validated {metric}")
    axes.set_title(f"Cross-validation on {x_path or 'trials'}")
    return figure


def image_shape(size: int, input_shape: Sequence[int]) -> tuple[int, int, int] | None:
    """The ``(C, H, W)`` image behind a flat input of ``size`` values, or None if it is not one.

    ``input_shape`` (one sample's shape, from :class:`~sweepnet.data.DatasetMeta`) is trusted
    when it is an image; a flat one is read as a square grey image (``size == H * W``) or a
    square RGB one (``size == 3 * H * W``). A trailing bias feature (the bias trick) is allowed.
    """
    shape = tuple(input_shape)
    for pixels in (size, size - 1):
        if len(shape) == 3 and math.prod(shape) == pixels:
            return shape[0], shape[1], shape[2]
        if len(shape) == 2 and math.prod(shape) == pixels:
            return 1, shape[0], shape[1]
        if len(shape) <= 1:
            for channels in (1, 3):
                side = math.isqrt(pixels // channels) if pixels > 0 else 0
                if side > 1 and channels * side * side == pixels:
                    return channels, side, side
    return None


def first_layer_weights(weights: Mapping[str, np.ndarray], input_shape: Sequence[int]) -> Figure | None:
    """The first layer's weights as one image per hidden unit or filter (``visualize_grid``).

    Parameters
    ----------
    weights : the model's parameters, in layer order: ``W1: (D, H)`` (classic nets), ``W: (D, C)``
        (linear classifiers), ``"0.affine.W": (D, H)`` or ``"0.conv.W": (F, C, h, w)`` (sequential).
    input_shape : one sample's shape, e.g. ``(1, 8, 8)`` or ``(64,)`` (see :func:`image_shape`).

    Returns
    -------
    The figure, or None when the model has no such weight or its input is not an image.
    """
    first = next((w for name, w in weights.items() if name.rsplit(".", 1)[-1] in ("W", "W1")), None)
    if first is None:
        return None
    if first.ndim == 4:  # conv filters (F, C, h, w)
        images = first.transpose(0, 2, 3, 1)
    elif first.ndim == 2 and (shape := image_shape(first.shape[0], input_shape)) is not None:
        images = first[: math.prod(shape)].T.reshape(first.shape[1], *shape).transpose(0, 2, 3, 1)
    else:
        return None
    grid = visualize_grid(images)
    figure = Figure(figsize=(6, 6))
    axes = figure.subplots()
    if grid.shape[-1] == 1:
        axes.imshow(grid[..., 0], cmap="gray")
    else:
        axes.imshow(grid[..., :3].astype(np.uint8))
    axes.set_axis_off()
    axes.set_title(f"First-layer weights ({len(images)} units)")
    return figure


def sweep_plots(
    entries: Iterable[Entry],
    metric: str,
    mode: str,
    log_params: set[str],
    input_shape: Sequence[int] | None = None,
    best_weights: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Figure]:
    """Every summary figure that applies to the sweep, by artifact file name (``plots/*.png``)."""
    entries = list(entries)
    figures = {
        f"plots/{metric}_vs_params.png": metric_vs_params(entries, metric, log_params),
        "plots/heatmap.png": param_heatmap(entries, metric, mode, log_params),
        "plots/cross_validation.png": cv_errorbars(entries, metric, log_params),
    }
    if best_weights and input_shape is not None:
        figures["plots/first_layer_weights.png"] = first_layer_weights(best_weights, input_shape)
    return {name: figure for name, figure in figures.items() if figure is not None}


def _scored(entries: Iterable[Entry], metric: str) -> list[Entry]:
    """Completed or pruned trials with a finite ``metric``: the ones a plot can place."""
    return [
        (spec, result)
        for spec, result in entries
        if result.state in _PLOTTED_STATES and math.isfinite(result.metrics.get(metric, math.nan))
    ]


def _varying_params(entries: Sequence[Entry]) -> list[str]:
    """Dotted paths of the hyperparameters taking at least two values, in first-seen order."""
    values: dict[str, set[str]] = {}
    for spec, _ in entries:
        for path, value in spec.params.items():
            values.setdefault(path, set()).add(repr(value))
    return [path for path, seen in values.items() if len(seen) > 1]


def _values(entries: Sequence[Entry], path: str) -> list[Any]:
    """The values of hyperparameter ``path`` in the trials that have it."""
    return [spec.params[path] for spec, _ in entries if path in spec.params]


def _numeric(values: Sequence[Any]) -> bool:
    """True when every value is a real number (booleans are labels, not numbers)."""
    return bool(values) and all(isinstance(v, Real) and not isinstance(v, bool) for v in values)


def _best_per_cell(points: Sequence[tuple[float, float, float]], xs: list, ys: list, mode: str) -> np.ndarray:
    """``(len(ys), len(xs))`` best metric per grid point; NaN where no trial ran."""
    cells = np.full((len(ys), len(xs)), np.nan)
    pick = np.fmax if mode == "max" else np.fmin  # fmax/fmin ignore the NaN of an empty cell
    for x, y, value in points:
        row, column = ys.index(y), xs.index(x)
        cells[row, column] = pick(cells[row, column], value)
    return cells
