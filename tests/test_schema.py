"""The sweep schema and the validation of one resolved point (``setup_trial``)."""

from __future__ import annotations

import pytest

from sweepnet.errors import ConfigError
from sweepnet.schema import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    METRICS,
    SolverSection,
    SweepConfig,
    check_values,
    setup_trial,
    validate_model,
)
from sweepnet.search import MAX_TRIALS


def point(**sections):
    return {"name": "t", "model": {"name": "fc"}, **sections}


def field_of(config, registries) -> str:
    with pytest.raises(ConfigError) as info:
        setup_trial(config, registries)
    assert "\n" not in str(info.value)
    return info.value.field


def test_defaults_match_the_classic_solver(builtin_registries):
    setup = setup_trial(point(), builtin_registries)
    solver = setup.config.solver
    assert (solver.update_rule, solver.batch_size, solver.num_epochs, solver.lr_decay) == ("sgd", 100, 10, 1.0)
    assert (solver.num_train_samples, solver.num_val_samples, solver.divergence_factor) == (1000, None, 100.0)
    assert setup.config.data.name == "digits" and setup.config.pruner == {"name": "none"}
    assert setup.config.search.searcher == "random" and setup.config.search.num_samples is None
    assert setup.config.resources.max_retries == 2 and setup.config.tracking.enabled is True
    assert setup.trainer == "solver" and setup.max_epochs == 10


def test_update_rule_keys_are_merged_into_optim_config_and_win(builtin_registries):
    solver = {
        "update_rule": {"name": "sgd_momentum", "momentum": 0.5},
        "optim_config": {"learning_rate": 0.1, "momentum": 0.99},
    }
    setup = setup_trial(point(solver=solver), builtin_registries)
    assert setup.update_rule.name == "sgd_momentum"
    assert setup.optim_config == {"learning_rate": 0.1, "momentum": 0.5}


def test_optim_config_gets_the_rules_defaults(builtin_registries):
    setup = setup_trial(point(solver={"update_rule": "adam"}), builtin_registries)
    assert setup.optim_config == {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}


def test_classic_models_train_one_epoch(builtin_registries):
    setup = setup_trial(point(model={"name": "knn", "k": 3}), builtin_registries)
    assert setup.trainer == "classic" and setup.max_epochs == 1 and setup.model_options.k == 3


@pytest.mark.parametrize(
    ("sections", "field"),
    [
        ({"solver": {"batch_size": 0}}, "solver.batch_size"),
        ({"solver": {"num_epochs": 0}}, "solver.num_epochs"),
        ({"solver": {"num_epochs": 2.0}}, "solver.num_epochs"),  # strict: no silent float -> int
        ({"solver": {"batch_size": True}}, "solver.batch_size"),
        ({"solver": {"lr_decay": 1.5}}, "solver.lr_decay"),
        ({"solver": {"dtype": "float16"}}, "solver.dtype"),
        ({"solver": {"update_rule": "adamm"}}, "solver.update_rule"),
        ({"solver": {"update_rule": {"momentum": 0.9}}}, "solver.update_rule.name"),
        ({"solver": {"update_rule": {"name": "sgd_momentum", "momentum": 1.2}}}, "solver.update_rule.momentum"),
        ({"solver": {"optim_config": {"learning_rate": -1.0}}}, "solver.optim_config.learning_rate"),
        ({"solver": {"optim_config": {"momentum": 0.9}}}, "solver.optim_config.momentum"),
        ({"model": {"name": "fc", "hidden_dims": [64, 0]}}, "model.hidden_dims[1]"),
        ({"model": {"name": "fc", "dropout_keep_ratio": 1.5}}, "model.dropout_keep_ratio"),
        ({"model": {"hidden_dims": [3]}}, "model.name"),
        ({"model": {"name": "nope"}}, "model.name"),
        ({"data": {"cv": 1}}, "data.cv"),
        ({"search": {"num_samples": 0}}, "search.num_samples"),
        ({"search": {"time_budget_s": -1}}, "search.time_budget_s"),
        ({"resources": {"cpus_per_trial": 0}}, "resources.cpus_per_trial"),
        ({"resources": {"max_retries": -1}}, "resources.max_retries"),
        ({"mode": "maximise"}, "mode"),
        ({"metric": "accuracy"}, "metric"),
        ({"name": "has space"}, "name"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_values_name_their_dotted_path(builtin_registries, sections, field):
    assert field_of(point(**sections), builtin_registries) == field


def test_unknown_keys_suggest_the_closest_one(builtin_registries):
    with pytest.raises(ConfigError, match=r"solver\.batchsize: unknown key; did you mean 'batch_size'\?"):
        setup_trial(point(solver={"batchsize": 3}), builtin_registries)
    with pytest.raises(ConfigError, match=r"model\.hiden_dims: unknown key; did you mean 'hidden_dims'\?"):
        setup_trial(point(model={"name": "fc", "hiden_dims": [3]}), builtin_registries)
    with pytest.raises(ConfigError, match=r"data\.flaten: unknown key; did you mean 'flatten'\?"):
        setup_trial(point(data={"flaten": True}), builtin_registries)


def test_a_misspelt_required_key_is_reported_as_unknown_not_missing():
    with pytest.raises(ConfigError, match="^modle: unknown key; did you mean"):
        validate_model(SweepConfig, {"name": "t", "modle": {"name": "fc"}})


def test_validate_model_wants_a_mapping():
    with pytest.raises(ConfigError, match="^solver: solver must be a mapping of keys, got a list"):
        validate_model(SolverSection, [1, 2], "solver")


def test_metric_names_suggest_a_close_one():
    with pytest.raises(ConfigError, match="did you mean 'val_rmse'"):
        validate_model(SweepConfig, {"name": "t", "model": {"name": "fc"}, "metric": "val_rsme"})


def test_every_task_defaults_to_its_validation_metric():
    assert METRICS["classification"][0] == "val_acc" and METRICS["regression"][0] == "val_rmse"


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"model": {"reg": float("inf")}}, "model.reg", "must be a finite number, got inf"),
        ({"a": [1, {"b": float("nan")}]}, "a[1].b", "must be a finite number, got nan"),
        ({"seed": 2**63}, "seed", "9223372036854775808 is out of range"),
        ({"x": -(2**63)}, "x", "is out of range"),
    ],
)
def test_check_values_refuses_non_finite_and_oversized_numbers_anywhere(data, field, reason):
    with pytest.raises(ConfigError, match=reason) as info:
        check_values(data)
    assert info.value.field == field


def test_check_values_takes_ordinary_values_and_walks_deep_data_without_recursion():
    check_values({"seed": 2**63 - 1, "x": -(2**63) + 1, "flag": True, "lr": 1e-300, "text": "inf"})
    deep: list = [1.0]
    for _ in range(5000):
        deep = [deep]
    check_values({"deep": deep})


@pytest.mark.parametrize(
    ("written", "field", "reason"),
    [
        ({"name": "fc", "hidden_dims": [True]}, "model.hidden_dims[0]", "expected a number, got true"),
        ({"name": "fc", "hidden_dims": [64, "64"]}, "model.hidden_dims[1]", "expected a number, got the text '64'"),
        ({"name": "fc", "reg": "inf"}, "model.reg", "expected a number, got the text 'inf'"),
        ({"name": "fc", "dropout_keep_ratio": True}, "model.dropout_keep_ratio", "expected a number, got true"),
    ],
)
def test_plugin_options_refuse_what_pydantics_lax_mode_would_convert(builtin_registries, written, field, reason):
    with pytest.raises(ConfigError, match=reason) as info:
        setup_trial({"name": "s", "model": written}, builtin_registries)
    assert info.value.field == field


def test_sections_refuse_converted_flags_and_counts():
    with pytest.raises(ConfigError, match="expected true or false, got 1") as info:
        validate_model(SweepConfig, {"name": "s", "model": {}, "data": {"flatten": 1}})
    assert info.value.field == "data.flatten"
    with pytest.raises(ConfigError, match="expected a number, got true") as info:
        validate_model(SweepConfig, {"name": "s", "model": {}, "data": {"num_train": True}})
    assert info.value.field == "data.num_train"


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("solver", "batch_size", MAX_BATCH_SIZE + 1),
        ("solver", "num_epochs", MAX_EPOCHS + 1),
        ("search", "num_samples", MAX_TRIALS + 1),
        ("search", "time_budget_s", float("inf")),
        ("search", "target", float("nan")),
        ("resources", "cpus_per_trial", float("inf")),
        ("resources", "max_retries", 101),
        ("resources", "max_model_mb", 0),
        ("tracking", "flush_timeout", float("inf")),
        ("tracking", "flush_timeout", 86_401.0),
    ],
)
def test_section_numbers_have_documented_ranges(section, field, value):
    with pytest.raises(ConfigError) as info:
        validate_model(SweepConfig, {"name": "s", "model": {}, section: {field: value}})
    assert info.value.field == f"{section}.{field}"
