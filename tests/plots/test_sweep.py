"""Which figures a sweep gets: from its search space, its ``plots:`` section, its model and data."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import Collection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from sweepnet.data import DatasetMeta
from sweepnet.plots import PlotSettings, sweep_plots
from sweepnet.records import TrialState

from .entries import curve, entry, history, legend_texts, sweep_config

RULES = [{"name": name, "learning_rate": lr} for name, lr in (("sgd", 1e-2), ("rmsprop", 1e-4), ("adam", 1e-3))]
DIGITS = DatasetMeta("digits", "classification", (64,), num_classes=10, class_names=tuple("0123456789"))


def _rule_sweep(with_curves=True):
    config = sweep_config(model={"name": "fc", "hidden_dims": [100]}, solver={"update_rule": {"grid": RULES}})
    entries = [
        entry(i, {"solver.update_rule": rule["name"]}, history=history(5, scale=i + 1), val_acc=0.9 - 0.1 * i,
              iteration_loss=curve(50, start=i + 1.0) if with_curves else None)
        for i, rule in enumerate(RULES)
    ]  # fmt: skip
    return config, entries


def test_an_update_rule_grid_compares_the_rules_per_epoch_and_per_iteration():
    config, entries = _rule_sweep()
    figures = sweep_plots(entries, config, "val_acc", "max")
    assert list(figures) == [
        "plots/compare_solver.update_rule.png",
        "plots/loss_history.png",
        "plots/val_acc_vs_params.png",
    ]  # one parameter: no heat map, no importances
    [legend] = figures["plots/compare_solver.update_rule.png"].legends
    assert legend_texts(legend) == ["sgd", "rmsprop", "adam"]  # the order written
    loss = figures["plots/loss_history.png"].axes[0]
    assert [line.get_label() for line in loss.lines] == ["sgd", "rmsprop", "adam"]
    assert loss.lines[1].get_ydata()[0] == pytest.approx(2.0)  # the rmsprop trial's own curve


def test_curves_not_in_memory_are_read_for_the_drawn_trials_only():
    config, entries = _rule_sweep(with_curves=False)
    entries[0][1].iteration_loss = curve(50)
    asked = []

    def load(specs):
        asked.append([spec.number for spec in specs])
        return {spec.trial_id: curve(10) for spec in specs}

    figures = sweep_plots(entries, config, "val_acc", "max", iteration_loss=load)
    assert asked == [[1, 2]]
    assert [len(line.get_xdata()) for line in figures["plots/loss_history.png"].axes[0].lines] == [50, 10, 10]
    no_loader = sweep_plots(entries, config, "val_acc", "max")
    assert [line.get_label() for line in no_loader["plots/loss_history.png"].axes[0].lines] == ["sgd"]


def _batchnorm_sweep(learning_rates=False):
    """8 weight scales x batchnorm on / off (and a learning rate range when ``learning_rates``)."""
    scales = [float(s) for s in np.logspace(-4, 0, 8)]
    config = sweep_config(
        model={"name": "fc", "normalization": {"grid": [None, "batchnorm"]}, "weight_scale": {"grid": scales}}
    )
    if learning_rates:
        config["solver"] = {"optim_config": {"learning_rate": {"loguniform": [1e-4, 1e-2]}}}
    rng = np.random.default_rng(0)
    entries = []
    for scale in scales:
        for norm in (None, "batchnorm"):
            good = norm == "batchnorm" or 1e-2 <= scale <= 0.2
            params = {"model.normalization": norm, "model.weight_scale": scale}
            if learning_rates:
                params["solver.optim_config.learning_rate"] = float(10 ** rng.uniform(-4, -2))
            val = (0.9 if good else 0.1) + 0.01 * rng.random()
            entries.append(entry(len(entries), params, history=history(3), val_acc=val, train_acc=val))
    return config, entries


def test_the_batchnorm_sweep_draws_the_classic_weight_scale_figure():
    config, entries = _batchnorm_sweep()
    figures = sweep_plots(entries, config, "val_acc", "max")
    split = figures["plots/compare_model.normalization_vs_model.weight_scale.png"]
    assert len(split.axes) == 3 and all(axes.get_xscale() == "log" for axes in split.axes)
    assert legend_texts(split.legends[0]) == ["none", "batchnorm"]
    assert "plots/compare_model.normalization.png" in figures
    heatmap = [axes for axes in figures["plots/heatmap.png"].axes if axes.images]
    assert {(axes.get_xlabel(), axes.get_ylabel()) for axes in heatmap} == {
        ("model.weight_scale", "model.normalization")
    }
    assert "plots/importance.png" in figures


def test_the_plots_section_picks_the_pair_the_compared_parameters_and_the_x_axis():
    config, entries = _batchnorm_sweep(learning_rates=True)
    config["plots"] = {
        "heatmap": ["solver.optim_config.learning_rate", "model.normalization"],
        "compare": ["model.normalization"],
        "against": "solver.optim_config.learning_rate",
    }
    assert PlotSettings.from_config(config) == PlotSettings(
        ("solver.optim_config.learning_rate", "model.normalization"),
        ("model.normalization",),
        "solver.optim_config.learning_rate",
    )
    figures = sweep_plots(entries, config, "val_acc", "max")
    assert "plots/compare_model.normalization_vs_solver.optim_config.learning_rate.png" in figures
    panel = next(axes for axes in figures["plots/heatmap.png"].axes if axes.get_label() != "<colorbar>")
    assert (panel.get_xlabel(), panel.get_ylabel()) == ("solver.optim_config.learning_rate", "model.normalization")
    assert not panel.images  # a range: a scatter
    config["plots"] = {"compare": []}
    assert not any(name.startswith("plots/compare_") for name in sweep_plots(entries, config, "val_acc", "max"))


def test_linear_classifiers_on_images_get_class_templates_with_the_class_names():
    config = sweep_config(
        data={"name": "digits", "bias_trick": True}, model={"name": "softmax", "reg": {"grid": [0.1, 1.0]}}
    )
    entries = [entry(i, {"model.reg": reg}, val_acc=0.5 + i / 10) for i, reg in enumerate([0.1, 1.0])]
    meta = DatasetMeta("digits", "classification", (65,), num_classes=10, class_names=DIGITS.class_names)
    weights = {"W": np.random.default_rng(0).standard_normal((65, 10))}
    figures = sweep_plots(entries, config, "val_acc", "max", data_meta=meta, best_weights=weights)
    templates = figures["plots/class_templates.png"]
    assert [axes.get_title() for axes in templates.axes if axes.images] == list("0123456789")
    assert "plots/first_layer_weights.png" not in figures


def test_nets_on_images_get_their_first_layer_and_tabular_or_feature_inputs_no_weight_picture():
    config = sweep_config(data={"name": "digits", "flatten": True}, model={"name": "fc", "reg": {"grid": [0.1, 1.0]}})
    entries = [entry(i, {"model.reg": reg}, val_acc=0.5 + i / 10) for i, reg in enumerate([0.1, 1.0])]
    weights = {"W1": np.ones((64, 16)), "b1": np.zeros(16), "W2": np.ones((16, 10))}
    assert "plots/first_layer_weights.png" in sweep_plots(
        entries, config, "val_acc", "max", data_meta=DIGITS, best_weights=weights
    )

    diabetes = DatasetMeta("diabetes", "regression", (10,))
    config["data"] = {"name": "diabetes", "standardize": True}
    net = {"W1": np.ones((10, 32)), "W2": np.ones((32, 1))}
    regression = [entry(i, {"model.reg": reg}, val_rmse=50.0 + i) for i, reg in enumerate([0.1, 1.0])]
    drawn = sweep_plots(regression, config, "val_rmse", "min", data_meta=diabetes, best_weights=net)
    assert not any("weights" in name or "templates" in name for name in drawn)

    config["data"] = {"name": "cifar10", "features": "hog_hsv", "bias_trick": True}
    features = DatasetMeta("cifar10", "classification", (155,), num_classes=10)
    linear = {"W": np.ones((155, 10))}
    drawn = sweep_plots(entries, config, "val_acc", "max", data_meta=features, best_weights=linear)
    assert not any("weights" in name or "templates" in name for name in drawn)


def test_three_thousand_trials_draw_no_artist_per_trial():
    rng = np.random.default_rng(0)
    config = sweep_config(
        model={"name": "fc", "hidden_dims": {"choice": [[64], [128], [256]]}, "reg": {"loguniform": [1e-5, 1e-1]}},
        solver={"optim_config": {"learning_rate": {"loguniform": [1e-4, 1e-1]}}},
    )
    entries = []
    for i in range(3000):
        params = {
            "model.hidden_dims": [[64], [128], [256]][i % 3],
            "model.reg": float(10 ** rng.uniform(-5, -1)),
            "solver.optim_config.learning_rate": float(10 ** rng.uniform(-4, -1)),
        }
        state = TrialState.PRUNED if i % 4 else TrialState.COMPLETED
        entries.append(
            entry(i, params, state=state, history=history(1 + i % 8), val_acc=float(rng.random()), train_acc=0.9)
        )
    figures = sweep_plots(entries, config, "val_acc", "max")
    assert {"plots/heatmap.png", "plots/compare_model.hidden_dims.png", "plots/importance.png"} <= set(figures)
    for name, figure in figures.items():
        artists = [
            a for axes in figure.axes for a in axes.get_children() if isinstance(a, Line2D | Collection | Patch | Text)
        ]
        assert len(artists) < 300, name


def test_a_figure_that_fails_is_left_out_with_a_warning_and_the_others_are_drawn(monkeypatch, caplog):
    from sweepnet.plots import sweep as sweep_module

    def broken(*args, **kwargs):
        raise ValueError("a bug in one figure")

    monkeypatch.setattr(sweep_module, "compare_values", broken)
    config, entries = _rule_sweep()
    figures = sweep_plots(entries, config, "val_acc", "max")
    assert list(figures) == ["plots/loss_history.png", "plots/val_acc_vs_params.png"]
    assert "plots/compare_solver.update_rule.png could not be drawn" in caplog.text
    assert "ValueError: a bug in one figure" in caplog.text
