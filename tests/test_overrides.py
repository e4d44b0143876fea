"""``--set path=value`` overrides: YAML values, schema-typed text, list indices, clear errors."""

from __future__ import annotations

import pytest

from sweepnet.errors import ConfigError
from sweepnet.overrides import apply_overrides, parse_override

CONFIG = {
    "name": "quickstart",
    "model": {"name": "fc", "hidden_dims": [64, 32], "reg": {"loguniform": [1e-5, 1e-2]}},
    "solver": {"update_rule": "adam"},
}


def test_values_are_yaml_flow_values():
    config = apply_overrides(
        CONFIG,
        [
            "search.num_samples=3",
            "model.hidden_dims=[64,64]",
            "solver.optim_config.learning_rate={loguniform: [1.0e-4, 1.0e-2]}",
            "solver.lr_decay=1e-1",
            "tracking.enabled=false",
            "solver.num_val_samples=null",
        ],
    )
    assert config["search"] == {"num_samples": 3}
    assert config["model"]["hidden_dims"] == [64, 64]
    assert config["solver"]["optim_config"] == {"learning_rate": {"loguniform": [1e-4, 1e-2]}}
    assert config["solver"]["lr_decay"] == 0.1
    assert config["tracking"] == {"enabled": False}
    assert config["solver"]["num_val_samples"] is None


def test_the_input_is_not_modified():
    before = repr(CONFIG)
    apply_overrides(CONFIG, ["model.hidden_dims[0]=8", "model.name=knn"])
    assert repr(CONFIG) == before


def test_overrides_apply_in_order():
    assert apply_overrides(CONFIG, ["seed=1", "seed=2"])["seed"] == 2


@pytest.mark.parametrize(
    ("item", "expected"),
    [("name=123", "123"), ("name=true", "true"), ("data.data_dir=2024", "2024"), ("tracking.uri=1e3", "1e3")],
)
def test_text_fields_keep_the_text_as_typed(item, expected):
    assert parse_override(item)[2] == expected


@pytest.mark.parametrize(("item", "expected"), [("seed=123", 123), ("model.reg=1e-3", 1e-3), ("model.name=5", 5)])
def test_other_fields_are_typed_by_yaml(item, expected):
    # model.* is typed by the model plugin's options, which validate it later
    assert parse_override(item)[2] == expected


def test_list_indices_and_nested_keys():
    path, keys, value = parse_override("model.layers[2].units=10")
    assert (path, keys, value) == ("model.layers[2].units", ["model", "layers", 2, "units"], 10)
    config = apply_overrides({"model": {"layers": [{"name": "affine", "units": 5}]}}, ["model.layers[0].units=7"])
    assert config["model"]["layers"][0] == {"name": "affine", "units": 7}


def test_a_search_space_can_be_replaced_by_a_value():
    assert apply_overrides(CONFIG, ["model.reg=1e-4"])["model"]["reg"] == 1e-4


@pytest.mark.parametrize(
    ("item", "field", "reason"),
    [
        ("solver.batch_size", "--set", "expected path.to.key=value"),
        ("=3", "--set", "expected path.to.key=value"),
        ("model..reg=3", "--set", "expected path.to.key=value"),
        ("model.hidden_dims[2]=8", "--set model.hidden_dims[2]", "index 2 is out of range"),
        ("model.name[0]=8", "--set model.name[0]", "model.name is not a list"),
        ("name.first=x", "--set name.first", "name is not a mapping"),
        ("model.reg.low=1", "--set model.reg.low", "model.reg is a search space"),
        ("model.hidden_dims=[1", "--set model.hidden_dims:1:3", "invalid YAML"),
    ],
)
def test_bad_overrides_name_themselves(item, field, reason):
    with pytest.raises(ConfigError) as info:
        apply_overrides(CONFIG, [item])
    assert info.value.field == field and reason in info.value.reason


def test_override_paths_are_bounded_before_anything_is_built():
    with pytest.raises(ConfigError, match=r"the path is deeper than 32 keys and indices"):
        parse_override(".".join(["a"] * 33) + "=1")
    assert parse_override(".".join(["a"] * 32) + "=1")[1] == ["a"] * 32
    with pytest.raises(ConfigError, match="a list index is longer than any list"):
        parse_override(f"model.hidden_dims[{'9' * 5000}]=1")  # int() would refuse 5,000 digits
