"""The pictures of the classic notebooks, for one trial and for a whole sweep.

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``, so no
global figure state is touched and figures can be drawn on the tracker's writer thread; the
PNG comes from the Agg renderer (:func:`to_png`). No module here knows MLflow: figures are
built from ``(TrialSpec, TrialResult)`` entries, the sweep config (which spaces are log, grids
or choices) and the data set's metadata. One figure family per module:

- :mod:`~sweepnet.plots.curves`: one trial's loss and metrics per epoch.
- :mod:`~sweepnet.plots.scatter`: the metric against each hyperparameter.
- :mod:`~sweepnet.plots.compare`: the best trial of each value of a discrete hyperparameter,
  per epoch (update rules, batchnorm on / off, dropout keep ratios).
- :mod:`~sweepnet.plots.split`: best metrics and final loss against a numeric hyperparameter, a
  series per value of a discrete one (batchnorm x weight scale).
- :mod:`~sweepnet.plots.heatmap`: training and validation metric over two hyperparameters.
- :mod:`~sweepnet.plots.importance`: Optuna's PED-ANOVA importances and their bar chart.
- :mod:`~sweepnet.plots.loss_history`: the per-iteration training loss.
- :mod:`~sweepnet.plots.cv`: cross-validation folds ("k vs accuracy").
- :mod:`~sweepnet.plots.weights`: first-layer weights and class templates.
- :mod:`~sweepnet.plots.sweep`: which of them apply to a sweep (:func:`sweep_plots`).
"""

from __future__ import annotations

from sweepnet.plots.compare import compare_values
from sweepnet.plots.curves import trial_curves
from sweepnet.plots.cv import cv_errorbars
from sweepnet.plots.drawing import caption, to_png
from sweepnet.plots.heatmap import param_heatmap
from sweepnet.plots.importance import Importances, importance_chart, param_importances
from sweepnet.plots.loss_history import loss_history
from sweepnet.plots.params import ParamAxis, describe_params
from sweepnet.plots.scatter import metric_vs_params
from sweepnet.plots.split import metric_by_value
from sweepnet.plots.sweep import IterationLoss, PlotSettings, sweep_plots
from sweepnet.plots.weights import class_templates, first_layer_weights, image_shape

__all__ = [
    "Importances",
    "IterationLoss",
    "ParamAxis",
    "PlotSettings",
    "caption",
    "class_templates",
    "compare_values",
    "cv_errorbars",
    "describe_params",
    "first_layer_weights",
    "image_shape",
    "importance_chart",
    "loss_history",
    "metric_by_value",
    "metric_vs_params",
    "param_heatmap",
    "param_importances",
    "sweep_plots",
    "to_png",
    "trial_curves",
]
