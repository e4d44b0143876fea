"""Which hyperparameters matter: Optuna's PED-ANOVA importances and their bar chart."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.plots.importance import Importances, importance_chart, param_importances
from sweepnet.plots.params import ParamAxis
from sweepnet.records import TrialState

from .entries import entry, tick_texts

AXES = {
    "lr": ParamAxis("lr", numeric=True, log=True),
    "reg": ParamAxis("reg", numeric=True, log=True),
    "rule": ParamAxis("rule", numeric=False, values=("sgd", "adam")),
}


def _entries(count=200, seed=0):
    """val_acc peaks at lr = 1e-2.5 and does not depend on reg; adam adds a little."""
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(count):
        params = {
            "lr": float(10 ** rng.uniform(-4, -1)),
            "reg": float(10 ** rng.uniform(-5, -2)),
            "rule": ("sgd", "adam")[i % 2],
        }
        val = (
            1
            - (np.log10(params["lr"]) + 2.5) ** 2 / 3
            + 0.05 * (params["rule"] == "adam")
            + 0.01 * rng.standard_normal()
        )
        entries.append(entry(i, params, val_acc=float(val)))
    return entries


def test_the_parameter_that_decides_the_metric_ranks_first_and_the_shares_add_up_to_one():
    importances = param_importances(_entries(), AXES, "val_acc", "max")
    assert list(importances.values)[0] == "lr" and importances.values["lr"] > 0.5
    assert sum(importances.values.values()) == pytest.approx(1.0)
    assert importances.trials == 200 and importances.top == pytest.approx(0.1)
    small = param_importances(_entries(20), AXES, "val_acc", "max")
    assert small.top == pytest.approx(0.25) and list(small.values)[0] == "lr"  # at least five trials at the top
    assert importances.ranked(["reg", "rule", "lr", "unranked"])[0] == "lr"
    assert importances.ranked(["reg", "rule", "lr", "unranked"])[-1] == "unranked"
    assert param_importances(_entries(), AXES, "val_acc", "max") == importances  # deterministic


def test_the_direction_decides_which_trials_are_the_best():
    rng = np.random.default_rng(1)
    entries = [
        entry(i, {"lr": float(10 ** rng.uniform(-4, -1)), "reg": float(10 ** rng.uniform(-5, -2))}, val_rmse=0.0)
        for i in range(100)
    ]
    for spec, result in entries:  # the lowest RMSE where reg is small, whatever lr
        result.metrics["val_rmse"] = float(np.log10(spec.params["reg"]) + 5 + 0.01 * rng.random())
    axes = {path: AXES[path] for path in ("lr", "reg")}
    assert list(param_importances(entries, axes, "val_rmse", "min").values)[0] == "reg"


def test_completed_and_pruned_trials_with_every_parameter_count():
    entries = _entries(30)
    entries += [
        entry(100 + i, {"lr": 1e-4, "reg": 1e-3, "rule": "sgd"}, state=TrialState.PRUNED, val_acc=0.0)
        for i in range(10)
    ]
    entries += [entry(150, {"lr": 1e-3, "reg": 1e-3, "rule": "sgd"}, state=TrialState.FAILED)]
    entries.append(entry(200, {"lr": 1e-3, "rule": "sgd", "extra": 1}, val_acc=0.5))  # a trial without reg
    importances = param_importances(entries, {**AXES, "extra": ParamAxis("extra", numeric=True)}, "val_acc", "max")
    assert importances.trials == 41 and set(importances.values) == {"lr", "rule"}
    assert importances.left_out == ("reg", "extra")
    assert importances.top == pytest.approx(5 / 41)  # at least five trials at the top


def test_a_metric_no_parameter_explains_has_no_ranking():
    flat = [entry(i, {"lr": 10.0 ** -(1 + i % 3), "reg": 10.0 ** -(i % 4)}, val_acc=0.9) for i in range(12)]
    assert param_importances(flat, AXES, "val_acc", "max").values == {}


def test_too_few_trials_or_parameters_give_no_importances():
    assert param_importances(_entries(3), AXES, "val_acc", "max") == Importances()
    assert param_importances(_entries(50), {"lr": AXES["lr"]}, "val_acc", "max").values == {}
    assert importance_chart(Importances(), "val_acc") is None


def test_the_chart_has_a_bar_per_parameter_the_most_important_on_top():
    importances = Importances({"lr": 0.7, "rule": 0.2, "reg": 0.1}, trials=200, top=0.1, left_out=("extra",))
    figure = importance_chart(importances, "val_acc")
    axes = figure.axes[0]
    assert [bar.get_width() for bar in axes.patches] == [0.7, 0.2, 0.1]
    assert tick_texts(axes.get_yticklabels()) == ["lr", "rule", "reg"]
    assert axes.yaxis_inverted()  # the first bar at the top
    assert [text.get_text() for text in axes.texts] == ["70%", "20%", "10%"]
    assert "200 completed or pruned trials" in figure.get_suptitle() and "best 10%" in figure.get_suptitle()
    assert "not ranked (not in every trial): extra" in figure.get_suptitle()
