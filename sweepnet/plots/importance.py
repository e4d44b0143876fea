"""Which hyperparameters matter: Optuna's parameter importances, and their bar chart.

The importances rank the parameters a heat map shows by default and order the comparisons.
They are Optuna's PED-ANOVA (Watanabe et al., 2023; ``PedAnovaImportanceEvaluator``, Optuna's
default evaluator since 5.0): how much each parameter's distribution among the best trials
differs from its distribution among all of them, i.e. what it takes to reach the top. It costs
milliseconds at 3000 trials where fANOVA's random forest takes minutes.

Pruned trials count with the metric they reached, unlike in Optuna: under ASHA most trials are
pruned (48 of the main job's 60), and they are the ones that show what does not reach the top.
Only the parameters every counted trial has are ranked (a parameter of one branch of a choice
is left out).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from sweepnet.leaderboard import Entry
from sweepnet.plots.drawing import new_figure
from sweepnet.plots.params import ParamAxis, scored

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["Importances", "importance_chart", "param_importances"]

_MIN_TRIALS = 4  # fewer trials say nothing about importance
_TOP_TRIALS = 5  # PED-ANOVA is stable with at least this many trials in the top quantile


@dataclass(frozen=True)
class Importances:
    """Shares of the metric's variance, by parameter path, largest first (they sum to 1).

    Attributes
    ----------
    values : ``{path: share}``; empty when they could not be computed.
    trials : how many trials they come from (completed or pruned).
    top : the share of them counted as the best (PED-ANOVA's target quantile).
    left_out : parameters not ranked (absent from some of the trials).
    """

    values: dict[str, float] = field(default_factory=dict)
    trials: int = 0
    top: float = 0.0
    left_out: tuple[str, ...] = ()

    def ranked(self, paths: Iterable[str]) -> list[str]:
        """``paths`` most important first; those without an importance keep their order, last."""
        order = {path: index for index, path in enumerate(paths)}
        return sorted(order, key=lambda path: (-self.values.get(path, -1.0), order[path]))


def param_importances(entries: Iterable[Entry], axes: Mapping[str, ParamAxis], metric: str, mode: str) -> Importances:
    """PED-ANOVA importances of the parameters ``axes`` for ``metric``, from the scored trials.

    Parameters
    ----------
    entries : ``(TrialSpec, TrialResult)`` pairs.
    axes : the varying parameters (:func:`~sweepnet.plots.params.describe_params`).
    metric, mode : the sweep's metric and direction (which trials are the best).

    Returns
    -------
    Empty :class:`Importances` with fewer than two parameters or :data:`_MIN_TRIALS` trials, or
    when no parameter tells the top from the rest. The best 10% of the trials count as the top,
    or more when that is fewer than :data:`_TOP_TRIALS` trials (at most half of them). The
    result is deterministic.
    """
    counted = scored(entries, metric)
    shared = [path for path in axes if all(path in spec.params for spec, _ in counted)]
    varying = [path for path in shared if len({repr(spec.params[path]) for spec, _ in counted}) > 1]
    left_out = tuple(path for path in axes if path not in shared)
    if len(varying) < 2 or len(counted) < _MIN_TRIALS:
        return Importances(left_out=left_out)
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # as the tpe searcher: no "study created" lines
    distributions = {path: _distribution(axes[path], [spec.params[path] for spec, _ in counted]) for path in varying}
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    study.add_trials(
        optuna.trial.create_trial(
            params={path: _value(axes[path], spec.params[path]) for path in varying},
            distributions=distributions,
            value=float(result.metrics[metric]),
        )
        for spec, result in counted
    )
    top = min(0.5, max(0.1, _TOP_TRIALS / len(counted)))
    with warnings.catch_warnings():  # experimental before Optuna 5; "importances will be equal" for flat metrics
        warnings.simplefilter("ignore")
        values = get_param_importances(
            study, evaluator=PedAnovaImportanceEvaluator(target_quantile=top), normalize=False
        )
    total = sum(values.values())
    if not total > 0:  # Optuna would share 1 equally: a ranking that says nothing
        return Importances(left_out=left_out)
    return Importances({path: float(value / total) for path, value in values.items()}, len(counted), top, left_out)


def importance_chart(importances: Importances, metric: str) -> Figure | None:
    """A horizontal bar per parameter, the most important on top; None without importances."""
    if not importances.values:
        return None
    paths = list(importances.values)
    shares = [importances.values[path] for path in paths]
    figure = new_figure(9, 1.8 + 0.45 * len(paths))
    axes = figure.subplots()
    bars = axes.barh(range(len(paths)), shares, color="tab:blue")
    axes.bar_label(bars, [f"{share:.0%}" for share in shares], padding=3)
    axes.set_yticks(range(len(paths)), paths)
    axes.invert_yaxis()  # the most important first, at the top
    axes.set_xlim(0, max(1.0, max(shares) * 1.15))
    axes.set_xlabel("importance (shares add up to 1)")
    title = (
        f"Hyperparameter importance for {metric} (Optuna's PED-ANOVA)\n"
        f"what it takes to reach the best {importances.top:.0%} of {importances.trials} completed or pruned trials"
    )
    if importances.left_out:
        title += f"\nnot ranked (not in every trial): {', '.join(importances.left_out)}"
    figure.suptitle(title)
    return figure


def _distribution(axis: ParamAxis, values: list) -> BaseDistribution:
    """The Optuna distribution of a parameter: its observed range, or its values' positions."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    if not axis.numeric:
        return CategoricalDistribution(tuple(range(len(axis.values))))
    low, high = min(map(float, values)), max(map(float, values))
    return FloatDistribution(low, high, log=axis.log and low > 0)


def _value(axis: ParamAxis, value: Any) -> float | int:
    return float(value) if axis.numeric else axis.index(value)
