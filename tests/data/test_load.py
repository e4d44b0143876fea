"""load_dataset: registry lookup, option validation, plugin load, preprocessing, once."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from sweepnet.data import Dataset, DatasetMeta, DatasetPlugin, DataSpec, load_dataset
from sweepnet.errors import ConfigError, DataError, PluginError
from sweepnet.plugins.datasets import sweepnet_register_datasets
from sweepnet.registry import Registry

from .formats import write_cifar


@pytest.fixture
def registry():
    registry = Registry("dataset")
    sweepnet_register_datasets(registry)
    return registry


class _WrongShape(DatasetPlugin):
    """Claims (4,) inputs but returns (3,)."""

    def load(self, options, *, data_home):
        X, y = np.zeros((2, 3), np.float32), np.zeros(2, np.int64)
        return Dataset(DatasetMeta("bad", "classification", (4,), num_classes=2), X, y, X, y, X, y)


class _Recorder(DatasetPlugin):
    """Remembers the options and data home it was given."""

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        size: int = 3

    calls: list = []

    def load(self, options, *, data_home):
        type(self).calls.append((options, data_home))
        X = np.ones((options.size, 2), np.float32)
        y = np.zeros(options.size, np.int64)
        return Dataset(DatasetMeta("whatever", "classification", (2,), num_classes=2), X, y, X[:1], y[:1], X[:1], y[:1])


def test_digits_by_default_ready_for_an_mlp(registry):
    data = load_dataset(DataSpec(flatten=True, standardize=True), registry)
    assert data.meta.name == "digits" and data.meta.input_shape == (64,)
    assert data.X_train.shape == (1257, 64) and data.X_train.dtype == np.float32
    assert not data.X_train.flags.writeable and not data.y_test.flags.writeable


def test_options_are_validated_by_the_plugin_model_and_named(registry):
    with pytest.raises(ConfigError, match="data.options.num_trainng: unknown key"):
        load_dataset(DataSpec(name="cifar10", options={"num_trainng": 10}), registry)
    with pytest.raises(ConfigError, match="data.options.seed"):
        load_dataset(DataSpec(name="synthetic", options={"seed": "abc"}), registry)
    with pytest.raises(ConfigError, match="data.options: .*at most 50000"):
        load_dataset(DataSpec(name="cifar10", options={"num_training": 50000}), registry)


def test_unknown_data_set_suggests_the_closest_name(registry):
    with pytest.raises(PluginError, match="did you mean 'cifar10'"):
        load_dataset(DataSpec(name="cifar"), registry)


def test_missing_files_fail_naming_the_directory_and_the_command(registry, tmp_path):
    with pytest.raises(DataError, match=f"not found in {tmp_path}/mnist .*sweepnet data download mnist --data-dir"):
        load_dataset(DataSpec(name="mnist", data_dir=tmp_path), registry)


def test_plugin_gets_its_options_and_the_data_home(registry, tmp_path):
    registry.add("recorder", _Recorder)
    data = load_dataset(DataSpec(name="recorder", options={"size": 5}, data_dir=tmp_path, cv=5), registry)
    options, home = _Recorder.calls[-1]
    assert options.size == 5 and home == tmp_path
    assert len(data.X_train) == 5 and len(data.folds) == 5
    assert data.meta.name == "whatever"


def test_a_plugin_breaking_the_contract_is_named(registry):
    registry.add("wrong_shape", _WrongShape)
    with pytest.raises(PluginError, match=r"dataset plugin 'wrong_shape': X_train \(2, 3\) .* input_shape \(4,\)"):
        load_dataset(DataSpec(name="wrong_shape"), registry)


class _Crashing(DatasetPlugin):
    """Its load raises something that is not a sweepnet error."""

    def load(self, options, *, data_home):
        raise KeyError("rows")


def test_a_third_party_load_that_raises_is_one_line_naming_the_plugin(registry):
    with registry.providing("crashing-data", "0.2", "crash"):
        registry.add("crashing", _Crashing)
    with pytest.raises(PluginError) as err:
        load_dataset(DataSpec(name="crashing"), registry)
    assert str(err.value) == "dataset 'crashing' of plugin 'crash' (crashing-data 0.2): load raised KeyError: 'rows'"


def test_cifar10_end_to_end_with_the_classic_features_pipeline(registry, tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    spec = DataSpec(
        name="cifar10",
        options={"num_training": 30, "num_validation": 10, "num_test": 6},
        data_dir=tmp_path,
        num_train=20,
        features="hog_hsv",
        standardize=True,
        bias_trick=True,
    )
    data = load_dataset(spec, registry)
    assert data.X_train.shape == (20, 4 * 4 * 9 + 10 + 1)
    assert data.X_val.shape == (10, 155) and data.X_test.shape == (6, 155)
    assert len(list((tmp_path / "cache" / "features").glob("*.npy"))) == 3
    again = load_dataset(spec, registry)
    np.testing.assert_array_equal(again.X_val, data.X_val)
