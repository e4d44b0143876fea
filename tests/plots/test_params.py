"""How each searched hyperparameter is drawn: its kind, its scale, its values in natural order."""

from __future__ import annotations

import pytest

from sweepnet.plots.params import ParamAxis, describe_params, file_safe, value_label

from .entries import entry, sweep_config

WEIGHT_SCALES = [1.000e-4, 1.624e-4, 2.637e-4, 4.281e-4, 6.952e-4, 1.129e-3, 1.833e-3,
                 2.976e-3, 4.833e-3, 7.848e-3, 1.274e-2, 2.069e-2, 3.360e-2, 5.456e-2,
                 8.859e-2, 1.438e-1, 2.336e-1, 3.793e-1, 6.158e-1, 1.000]  # fmt: skip


def _entries(path, values):
    return [entry(i, {path: value}, val_acc=0.5) for i, value in enumerate(values)]


def test_choices_keep_the_order_written_not_the_order_of_their_text():
    hidden = [[256], [512], [1024]]
    config = sweep_config(model={"name": "fc", "hidden_dims": {"choice": hidden}})
    axis = describe_params(config, _entries("model.hidden_dims", [[1024], [256], [512]]))["model.hidden_dims"]
    assert axis == ParamAxis("model.hidden_dims", numeric=False, values=([256], [512], [1024]))
    assert axis.labels() == ["[256]", "[512]", "[1024]"]  # sorted as text: [1024], [256], [512]
    assert axis.index([512]) == 1 and axis.position([1024]) == 2.0 and axis.index([64]) == -1


def test_grids_of_numbers_go_in_increasing_order():
    config = sweep_config(model={"name": "fc", "dropout_keep_ratio": {"grid": [1.0, 0.75, 0.5, 0.25, 0.1]}})
    axis = describe_params(config, _entries("model.dropout_keep_ratio", [1.0, 0.1]))["model.dropout_keep_ratio"]
    assert axis.values == (0.1, 0.25, 0.5, 0.75, 1.0) and axis.numeric and not axis.log  # evenly spaced: linear
    assert axis.small and axis.discrete


def test_a_grid_spread_evenly_on_a_log_scale_gets_a_log_axis():
    config = sweep_config(model={"name": "fc", "weight_scale": {"grid": WEIGHT_SCALES}})
    axis = describe_params(config, _entries("model.weight_scale", WEIGHT_SCALES))["model.weight_scale"]
    assert axis.numeric and axis.log and len(axis.values) == 20 and not axis.small


@pytest.mark.parametrize(
    ("values", "log"),
    [
        ([1e-3, 1e-2, 1e-1], True),
        ([50, 100, 200], True),
        ([1, 2, 3, 4], False),
        ([1e-4, 1e-2], True),
        ([0.5, 1.0], False),
    ],
)
def test_log_axes_for_numbers_spread_more_evenly_by_ratio_than_by_difference(values, log):
    config = sweep_config(model={"name": "fc", "reg": {"grid": values}})
    assert describe_params(config, _entries("model.reg", values))["model.reg"].log is log


def test_ranges_are_continuous_on_a_log_axis_when_the_space_is_log():
    config = sweep_config(
        model={"name": "fc", "reg": {"uniform": [0.0, 1.0]}},
        solver={"optim_config": {"learning_rate": {"loguniform": [1e-4, 1e-1]}}},
    )
    entries = [entry(i, {"model.reg": i / 10, "solver.optim_config.learning_rate": 10.0**-i}) for i in (1, 2)]
    axes = describe_params(config, entries)
    assert list(axes) == ["model.reg", "solver.optim_config.learning_rate"]  # the search space's order
    assert axes["solver.optim_config.learning_rate"] == ParamAxis("solver.optim_config.learning_rate", True, True)
    assert axes["model.reg"] == ParamAxis("model.reg", numeric=True, log=False)
    assert axes["model.reg"].name == "reg"


def test_update_rules_named_by_their_mapping_and_a_null_option():
    rules = [{"name": "sgd", "learning_rate": 1e-2}, {"name": "adam", "learning_rate": 1e-3}]
    config = sweep_config(
        model={"name": "fc", "normalization": {"grid": [None, "batchnorm"]}}, solver={"update_rule": {"grid": rules}}
    )
    entries = [entry(i, {"solver.update_rule": rule, "model.normalization": norm}) for i, (rule, norm) in
               enumerate([("adam", None), ("sgd", "batchnorm")])]  # fmt: skip
    axes = describe_params(config, entries)
    assert axes["solver.update_rule"].values == ("sgd", "adam")
    assert axes["model.normalization"].labels() == ["none", "batchnorm"]


def test_only_parameters_that_vary_are_described_and_unknown_ones_are_read_off_their_values():
    entries = [entry(i, {"fixed": 1, "k": k, "rule": r}) for i, (k, r) in enumerate([(5, "b"), (1, "a"), (5, "c")])]
    axes = describe_params({}, entries)
    assert list(axes) == ["k", "rule"]
    assert axes["k"].values == (1, 5) and axes["k"].numeric
    assert axes["rule"].values == ("b", "a", "c")  # first seen
    many = describe_params(None, _entries("lr", [10.0**-i for i in range(20)]))["lr"]
    assert many.numeric and many.log and not many.discrete


def test_labels_and_file_names():
    assert [value_label(v) for v in (1e-4, 1.624e-4, 0.0127, 1.0, None, True, [64, 32], "adam", 3)] == [
        "1e-4", "1.62e-4", "0.0127", "1", "none", "true", "[64, 32]", "adam", "3",
    ]  # fmt: skip
    assert file_safe("model.hidden_dims[0]") == "model.hidden_dims.0"
    assert file_safe("solver.update_rule") == "solver.update_rule"
