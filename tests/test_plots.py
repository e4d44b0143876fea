"""The figures of a trial and of a sweep: what each axis shows, log scales, cells, weight images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweepnet import plots
from sweepnet.core.vis import visualize_grid
from sweepnet.records import TrialResult, TrialSpec, TrialState

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _entry(number, params, state=TrialState.COMPLETED, **metrics):
    spec = TrialSpec(f"{number:040x}", number, params, {}, seed=number)
    return spec, TrialResult(spec.trial_id, state, metrics=metrics)


def _grid_entries():
    """A 3 x 2 grid over learning rate (log) and regularisation, val_acc = lr index + reg index / 10."""
    entries = []
    for i, lr in enumerate((1e-3, 1e-2, 1e-1)):
        for j, reg in enumerate((0.0, 0.5)):
            entries.append(_entry(len(entries), {"solver.lr": lr, "model.reg": reg}, val_acc=i + j / 10))
    return entries


def test_trial_curves_draw_loss_and_train_val_metric_per_epoch():
    history = [{"epoch": e, "loss": 1 / e, "train_acc": 0.2 * e, "val_acc": 0.1 * e, "lr": 1e-3} for e in (1, 2, 3)]
    figure = plots.trial_curves(history, "trial-001")
    loss_axes, metric_axes = figure.axes
    assert list(loss_axes.lines[0].get_xdata()) == [1, 2, 3]
    assert list(loss_axes.lines[0].get_ydata()) == pytest.approx([1, 0.5, 1 / 3])
    lines = {line.get_label(): list(line.get_ydata()) for line in metric_axes.lines}
    assert lines == {"train acc": pytest.approx([0.2, 0.4, 0.6]), "val acc": pytest.approx([0.1, 0.2, 0.3])}
    assert metric_axes.get_title() == "Classification accuracy"
    assert plots.to_png(figure).startswith(PNG_SIGNATURE)
    # round limits, padded by 5%, so that every trial of a sweep is drawn to the same scale
    assert loss_axes.get_xlim() == pytest.approx((0.5, 5.5)) and loss_axes.get_ylim() == pytest.approx((-0.05, 1.05))
    assert metric_axes.get_ylim() == pytest.approx((-0.05, 1.05))


def test_trial_curves_round_the_axes_of_a_regression_trial_up_to_1_2_2_5_or_5_times_a_power_of_ten():
    history = [{"epoch": e, "loss": 30 / e, "train_rmse": 0.3 * e, "val_rmse": -0.1 * e} for e in range(1, 9)]
    loss_axes, metric_axes = plots.trial_curves(history).axes
    assert loss_axes.get_xlim() == pytest.approx((0.5, 10.5))
    assert loss_axes.get_ylim() == pytest.approx((-2.5, 52.5))  # 0 .. 50
    assert metric_axes.get_ylim() == pytest.approx((-1.0 - 0.175, 2.5 + 0.175))  # -1 .. 2.5


def test_trial_curves_of_a_regression_trial_and_of_no_epochs():
    figure = plots.trial_curves([{"epoch": 1, "loss": 2.0, "train_rmse": 1.5, "val_rmse": 1.7}])
    assert figure.axes[1].get_title() == "RMSE"
    assert plots.trial_curves([]) is None


def test_metric_vs_params_uses_a_log_axis_for_log_spaces_and_labels_for_choices():
    entries = [
        _entry(0, {"solver.lr": 1e-3, "solver.update_rule": "adam"}, val_acc=0.5),
        _entry(1, {"solver.lr": 1e-1, "solver.update_rule": "sgd"}, val_acc=0.7),
        _entry(2, {"solver.lr": 1e-2, "solver.update_rule": "sgd"}, state=TrialState.FAILED),
        _entry(3, {"solver.lr": 1e-2, "solver.update_rule": "adam"}, val_acc=math.nan),
    ]
    figure = plots.metric_vs_params(entries, "val_acc", {"solver.lr"})
    lr_axes, rule_axes = figure.axes
    assert lr_axes.get_xscale() == "log" and rule_axes.get_xscale() == "linear"
    assert lr_axes.get_xlabel() == "solver.lr" and lr_axes.get_ylabel() == "val_acc"
    assert lr_axes.collections[0].get_offsets().tolist() == [[1e-3, 0.5], [1e-1, 0.7]]  # scored trials only
    assert [label.get_text() for label in rule_axes.get_xticklabels()] == ["adam", "sgd"]


def test_metric_vs_params_needs_a_varying_parameter():
    same = [_entry(0, {"a": 1}, val_acc=0.5), _entry(1, {"a": 1}, val_acc=0.6)]
    assert plots.metric_vs_params(same, "val_acc", set()) is None


def test_heatmap_of_a_grid_holds_the_best_metric_of_each_cell():
    entries = [*_grid_entries(), _entry(6, {"solver.lr": 1e-3, "model.reg": 0.0}, val_acc=0.9)]  # a better repeat
    figure = plots.param_heatmap(entries, "val_acc", "max", {"solver.lr"})
    axes = figure.axes[0]
    cells = axes.images[0].get_array()
    assert axes.get_xlabel() == "solver.lr" and axes.get_ylabel() == "model.reg"  # lr has more distinct values
    np.testing.assert_allclose(cells, [[0.9, 1.0, 2.0], [0.1, 1.1, 2.1]])
    minimised = plots.param_heatmap(entries, "val_acc", "min", {"solver.lr"}).axes[0].images[0].get_array()
    assert minimised[0, 0] == 0.0


def test_heatmap_of_sampled_points_is_a_scatter_on_log_axes():
    rng = np.random.default_rng(0)
    params = [{"lr": float(10 ** rng.uniform(-4, -1)), "reg": float(rng.uniform(0, 1))} for _ in range(30)]
    entries = [_entry(i, point, val_acc=float(rng.random())) for i, point in enumerate(params)]
    axes = plots.param_heatmap(entries, "val_acc", "max", {"lr"}).axes[0]
    assert not axes.images and len(axes.collections[0].get_offsets()) == 30
    assert (axes.get_xscale(), axes.get_yscale()) == ("log", "linear")
    np.testing.assert_allclose(axes.collections[0].get_array(), [result.metrics["val_acc"] for _, result in entries])


def test_heatmap_needs_two_numeric_parameters():
    entries = [_entry(i, {"lr": 10.0**-i, "rule": ("sgd", "adam")[i % 2]}, val_acc=0.1 * i) for i in range(4)]
    assert plots.param_heatmap(entries, "val_acc", "max", set()) is None


def test_cv_errorbars_show_every_fold_and_mean_plus_minus_std_per_k():
    entries = [
        _entry(i, {"model.k": k}, val_acc=m, val_acc_std=s, val_acc_fold0=m - s, val_acc_fold1=m + s)
        for i, (k, m, s) in enumerate([(5, 0.8, 0.02), (1, 0.7, 0.05), (10, 0.75, 0.01)])
    ]
    figure = plots.cv_errorbars([*entries, _entry(9, {"model.k": 3}, val_acc=0.9)], "val_acc", set())
    axes = figure.axes[0]
    folds = np.concatenate([collection.get_offsets() for collection in axes.collections[:3]])
    expected = [(1, 0.65), (1, 0.75), (5, 0.78), (5, 0.82), (10, 0.74), (10, 0.76)]
    np.testing.assert_allclose(sorted(map(tuple, folds.tolist())), expected)
    mean_line = axes.lines[0]
    assert list(mean_line.get_xdata()) == [1, 5, 10]  # sorted by k; the trial without folds is left out
    assert list(mean_line.get_ydata()) == pytest.approx([0.7, 0.8, 0.75])
    assert axes.get_xlabel() == "model.k"
    assert plots.cv_errorbars(entries[:0], "val_acc", set()) is None


@pytest.mark.parametrize(
    ("size", "input_shape", "expected"),
    [
        (64, (64,), (1, 8, 8)),
        (65, (65,), (1, 8, 8)),  # the bias trick's extra feature
        (3072, (3072,), (3, 32, 32)),
        (48, (3, 4, 4), (3, 4, 4)),
        (64, (8, 8), (1, 8, 8)),
        (155, (155,), None),  # HOG + HSV features: not an image
        (49, (2, 5, 5), None),  # an image of another size
    ],
)
def test_image_shape_is_read_from_the_input_shape_or_derived_from_a_flat_size(size, input_shape, expected):
    assert plots.image_shape(size, input_shape) == expected


def test_first_layer_weights_of_a_flat_input_are_the_columns_as_images():
    rng = np.random.default_rng(0)
    W1 = rng.standard_normal((64, 5))
    axes = plots.first_layer_weights({"W1": W1, "b1": np.zeros(5), "W2": rng.standard_normal((5, 10))}, (64,)).axes[0]
    expected = visualize_grid(W1.T.reshape(5, 8, 8, 1))[..., 0]
    np.testing.assert_allclose(axes.images[0].get_array(), expected)


def test_first_layer_weights_of_a_conv_net_are_its_filters():
    filters = np.random.default_rng(1).standard_normal((4, 3, 5, 5))
    weights = {"0.conv.W": filters, "0.conv.b": np.zeros(4), "3.affine.W": np.ones((100, 10))}
    axes = plots.first_layer_weights(weights, (3, 16, 16)).axes[0]
    expected = visualize_grid(filters.transpose(0, 2, 3, 1)).astype(np.uint8)
    np.testing.assert_array_equal(axes.images[0].get_array(), expected)


def test_first_layer_weights_need_an_image_input_and_a_weight():
    assert plots.first_layer_weights({"W1": np.ones((155, 4))}, (155,)) is None
    assert plots.first_layer_weights({}, (64,)) is None


def test_sweep_plots_names_each_figure_that_applies():
    rng = np.random.default_rng(0)
    figures = plots.sweep_plots(_grid_entries(), "val_acc", "max", {"solver.lr"}, (64,), {"W1": rng.random((64, 4))})
    assert sorted(figures) == ["plots/first_layer_weights.png", "plots/heatmap.png", "plots/val_acc_vs_params.png"]
    assert all(plots.to_png(figure).startswith(PNG_SIGNATURE) for figure in figures.values())
