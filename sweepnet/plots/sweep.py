"""Every summary figure that applies to a sweep, chosen from its search space and results.

:func:`sweep_plots` is what the tracker draws once at the end of a sweep (and ``sweepnet report``
at any time); the figures it picks, by artifact name:

=====================================  =========================================================
``plots/heatmap.png``                  training and validation metric over two hyperparameters:
                                       ``plots.heatmap``, else the two most important
``plots/compare_<p>_vs_<x>.png``       best val / train metric and final loss against a numeric
                                       ``<x>``, one series per value of ``<p>``
``plots/compare_<p>.png``              per-epoch curves of the best trial of each value of a
                                       discrete ``<p>`` (``plots.compare``, else up to three,
                                       most important first)
``plots/loss_history.png``             per-iteration training loss of the best trial (of each
                                       value of the first compared parameter)
``plots/cross_validation.png``         folds and mean +/- std of cross-validated trials
``plots/class_templates.png``          a linear classifier's weights per class, with class names
``plots/first_layer_weights.png``      the first layer of the best model on image inputs
``plots/<metric>_vs_params.png``       the metric of every trial against each hyperparameter
``plots/importance.png``               importance of each hyperparameter (Optuna's PED-ANOVA)
=====================================  =========================================================

The dictionary keeps this order, the report's.

Nothing here grows faster than the number of trials, and no figure draws an artist per trial
(scatters are one collection), so 3000 trials cost about what 60 do (``bench/plots.py``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from matplotlib.figure import Figure

from sweepnet import leaderboard
from sweepnet.leaderboard import Entry
from sweepnet.plots.compare import best_of_each_value, compare_values
from sweepnet.plots.cv import cv_errorbars
from sweepnet.plots.heatmap import param_heatmap
from sweepnet.plots.importance import Importances, importance_chart, param_importances
from sweepnet.plots.loss_history import loss_history
from sweepnet.plots.params import ParamAxis, describe_params, file_safe
from sweepnet.plots.scatter import metric_vs_params
from sweepnet.plots.split import metric_by_value
from sweepnet.plots.weights import class_templates, first_layer_weights, first_weight
from sweepnet.records import TrialSpec

if TYPE_CHECKING:
    from sweepnet.data import DatasetMeta

__all__ = ["IterationLoss", "PlotSettings", "sweep_plots"]

IterationLoss = Callable[[Sequence[TrialSpec]], Mapping[str, np.ndarray]]
"""``load(specs) -> {trial_id: (K, 2) array of (iteration, loss)}``: the recorded per-iteration
loss of trials whose ``TrialResult.iteration_loss`` is not in memory (read back from the store)."""

_MAX_COMPARED = 3  # comparison figures drawn by default
_T = TypeVar("_T")
_log = logging.getLogger(__name__)
_WEIGHT = re.compile(r"W\d*")  # weight matrices: W (linear classifiers), W1, W2 ... (classic nets)


@dataclass(frozen=True)
class PlotSettings:
    """The ``plots:`` section of a sweep file (dotted paths of searched parameters).

    Attributes
    ----------
    heatmap : the heat map's ``(x, y)`` pair; None: the two most important parameters.
    compare : the parameters compared value by value; None: the discrete ones, most important first.
    against : the numeric parameter the comparisons are drawn against; None: the most important one.
    """

    heatmap: tuple[str, str] | None = None
    compare: tuple[str, ...] | None = None
    against: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> PlotSettings:
        """The settings of a sweep config (its ``plots`` section, validated by the schema)."""
        section = (config or {}).get("plots") or {}
        heatmap, compare = section.get("heatmap"), section.get("compare")
        return cls(
            heatmap=tuple(heatmap) if heatmap else None,
            compare=tuple(compare) if compare is not None else None,
            against=section.get("against"),
        )


def sweep_plots(
    entries: Iterable[Entry],
    config: Mapping[str, Any] | None,
    metric: str,
    mode: str,
    *,
    data_meta: DatasetMeta | None = None,
    best_weights: Mapping[str, np.ndarray] | None = None,
    iteration_loss: IterationLoss | None = None,
) -> dict[str, Figure]:
    """Every summary figure that applies to the sweep, by artifact file name (``plots/*.png``).

    Parameters
    ----------
    entries : ``(TrialSpec, TrialResult)`` pairs of the sweep (histories included).
    config : the sweep config with its search spaces (``SweepInfo.config``): which spaces are
        log, grids or choices, and the ``plots:`` and ``data:`` sections.
    metric, mode : what the sweep optimises, e.g. ``"val_acc"``, ``"max"``.
    data_meta : the data set's input shape and class names (weight pictures need them).
    best_weights : the best trial's parameters.
    iteration_loss : reads the per-iteration loss of trials that do not carry it in memory.
    """
    entries = list(entries)
    config = config or {}
    axes = describe_params(config, entries)
    settings = PlotSettings.from_config(config)
    importances = _drawn("the importances", lambda: param_importances(entries, axes, metric, mode)) or Importances()
    ranked = importances.ranked(axes)
    drawing: dict[str, Callable[[], Figure | None]] = {}  # in the report's order: the answers first, the overview last
    if settings.heatmap:
        pair = [path for path in settings.heatmap if path in axes]
    else:  # the two most important, the one with more values across (a wide grid, as lr x reg)
        pair = sorted(ranked[:2], key=lambda path: -len(axes[path].values) if axes[path].discrete else -math.inf)
    if len(pair) == 2:
        others = [path for path in axes if path not in pair]
        drawing["plots/heatmap.png"] = partial(
            param_heatmap, entries, axes[pair[0]], axes[pair[1]], metric, mode, others
        )
    compared = [axes[path] for path in _compared(settings, axes, ranked)]
    per_epoch = any(len(result.history) > 1 for _, result in entries)
    for by in compared:
        name = f"plots/compare_{file_safe(by.path)}"
        if (x := _against(settings, axes, ranked, by)) is not None:
            drawing[f"{name}_vs_{file_safe(x.path)}.png"] = partial(metric_by_value, entries, x, by, metric, mode)
        if per_epoch:
            drawing[f"{name}.png"] = partial(compare_values, entries, by, metric, mode)
    drawing["plots/loss_history.png"] = partial(_loss_history, entries, compared[:1], metric, mode, iteration_loss)
    drawing["plots/cross_validation.png"] = partial(cv_errorbars, entries, axes, metric)
    if best_weights and data_meta is not None:
        drawing.update(_weight_figures(best_weights, data_meta, config.get("data") or {}))
    drawing[f"plots/{metric}_vs_params.png"] = partial(metric_vs_params, entries, axes, metric)
    drawing["plots/importance.png"] = partial(importance_chart, importances, metric)
    figures = {name: _drawn(name, draw) for name, draw in drawing.items()}
    return {name: figure for name, figure in figures.items() if figure is not None}


def _drawn(what: str, draw: Callable[[], _T]) -> _T | None:
    """``draw()``, or None and a warning when it fails: a figure's bug must not cost the sweep its
    other figures, its report and its leaderboard, which the tracker writes along with them."""
    try:
        return draw()
    except Exception:
        _log.warning("sweepnet: %s could not be drawn", what, exc_info=True)
        return None


def _compared(settings: PlotSettings, axes: Mapping[str, ParamAxis], ranked: list[str]) -> list[str]:
    if settings.compare is not None:
        return [path for path in settings.compare if path in axes]
    return [path for path in ranked if axes[path].small][:_MAX_COMPARED]


def _against(
    settings: PlotSettings, axes: Mapping[str, ParamAxis], ranked: list[str], by: ParamAxis
) -> ParamAxis | None:
    """The numeric parameter to draw the values of ``by`` against: one with more values than ``by``."""
    if settings.against is not None:
        return axes.get(settings.against) if settings.against != by.path else None
    for path in ranked:
        axis = axes[path]
        if path != by.path and axis.numeric and (not axis.discrete or len(axis.values) > len(by.values)):
            return axis
    return None


def _loss_history(
    entries: list[Entry], compared: list[ParamAxis], metric: str, mode: str, load: IterationLoss | None
) -> Figure | None:
    """The per-iteration loss of the best trial of each value of the first compared parameter,
    or of the sweep's best trial."""
    if compared:
        chosen = best_of_each_value(entries, compared[0], metric, mode)
        title, legend = f"Training loss per iteration: the best trial of each {compared[0].path}", compared[0].path
    else:
        best = leaderboard.best(entries, metric, mode)
        chosen = [(f"trial {best[0].number}", best)] if best else []
        title, legend = f"Training loss per iteration of the best trial (by {metric})", None
    curves = {spec.trial_id: result.iteration_loss for _, (spec, result) in chosen if result.iteration_loss is not None}
    missing = [spec for _, (spec, _) in chosen if spec.trial_id not in curves]
    if missing and load is not None:
        curves.update(load(missing))
    labelled = {label: curves[spec.trial_id] for label, (spec, _) in chosen if spec.trial_id in curves}
    return loss_history(labelled, title, legend)


def _weight_figures(
    weights: Mapping[str, np.ndarray], meta: DatasetMeta, data: Mapping[str, Any]
) -> dict[str, Callable[[], Figure | None]]:
    """Class templates of a linear classifier, else the first layer's weights (image inputs only)."""
    features = bool(data.get("features"))  # HOG + HSV: no longer pixels
    images = {"flattened": bool(data.get("flatten") or data.get("bias_trick")) and not features}
    images["bias"] = bool(data.get("bias_trick"))
    shape = () if features else meta.input_shape
    matrices = [w for name, w in weights.items() if _WEIGHT.fullmatch(name.rsplit(".", 1)[-1]) and w.ndim == 2]
    first = first_weight(weights)
    if len(matrices) == 1 and first is matrices[0] and meta.num_classes and first.shape[1] == meta.num_classes:
        return {"plots/class_templates.png": partial(class_templates, first, shape, meta.class_names, **images)}
    return {"plots/first_layer_weights.png": partial(first_layer_weights, weights, shape, **images)}
