"""The built-in dataset plugins, loaded from files in the real formats."""

from __future__ import annotations

import os
import pickle
import tracemalloc

import numpy as np
import pytest

from sweepnet.core.data_utils import save_CIFAR_batch, save_idx
from sweepnet.errors import DataError
from sweepnet.plugins.datasets import (
    BUILTIN_DATASETS,
    MAX_SYNTHETIC_BYTES,
    CaliforniaHousing,
    Cifar10,
    Diabetes,
    Digits,
    Mnist,
    Synthetic,
    sweepnet_register_datasets,
)
from sweepnet.registry import Registry
from sweepnet.testing import check_dataset
from tests.data.formats import california_archive, write_california


def _write_cifar(root, batch=8, test=6):
    """A small cifar-10-batches-py folder; returns its training rows (5 * batch, 3072) uint8."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    data = rng.integers(0, 256, size=(5 * batch + test, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=len(data))
    for i in range(5):
        rows = slice(i * batch, (i + 1) * batch)
        save_CIFAR_batch(root / f"data_batch_{i + 1}", data[rows], labels[rows])
    save_CIFAR_batch(root / "test_batch", data[5 * batch :], labels[5 * batch :])
    return data[: 5 * batch]


def _write_mnist(root, n_train, n_test, suffix):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    images = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    save_idx(root / f"train-images-idx3-ubyte{suffix}", images)
    save_idx(root / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_train, dtype=np.uint8))
    save_idx(root / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    save_idx(root / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_test, dtype=np.uint8))
    return images


def test_every_builtin_is_registered_with_its_options():
    registry = Registry("dataset")
    sweepnet_register_datasets(registry)
    assert registry.names() == sorted(["digits", "diabetes", "synthetic", "cifar10", "mnist", "california_housing"])
    for name, cls in BUILTIN_DATASETS.items():
        assert registry.get(name) is cls and registry.component(name).options is cls.Options


def test_builtins_come_from_the_plugin_manager(monkeypatch):
    from sweepnet.pluginmanager import create_plugin_manager

    registries = create_plugin_manager(autoload=False).build_registries()
    assert registries.datasets.component("digits").provider == "sweepnet"


def test_digits_fixed_stratified_split(tmp_path):
    data = check_dataset(Digits, data_home=tmp_path)
    assert data.meta.input_shape == (1, 8, 8) and data.meta.num_classes == 10
    assert [len(data.X_train), len(data.X_val), len(data.X_test)] == [1257, 180, 360]
    assert data.X_train.dtype == np.float32 and 0 <= data.X_train.min() and data.X_train.max() <= 1
    for y in (data.y_train, data.y_val, data.y_test):
        assert np.all(np.abs(np.bincount(y, minlength=10) / len(y) - 0.1) < 0.02)  # stratified
    again = Digits().load(Digits.Options(), data_home=tmp_path)
    np.testing.assert_array_equal(again.X_test, data.X_test)


def test_digits_split_leaves_enough_training_data_for_97_percent(tmp_path):
    # The quickstart's promise: an MLP reaches >= 97% test accuracy on this split.
    from sklearn.neural_network import MLPClassifier

    data = Digits().load(Digits.Options(), data_home=tmp_path)
    flat = [X.reshape(len(X), -1) for X in (data.X_train, data.X_test)]
    mlp = MLPClassifier(hidden_layer_sizes=(100,), max_iter=300, random_state=0).fit(flat[0], data.y_train)
    assert mlp.score(flat[1], data.y_test) >= 0.97


def test_diabetes_is_a_fixed_regression_split(tmp_path):
    data = check_dataset(Diabetes, data_home=tmp_path)
    assert data.meta.task == "regression" and data.meta.input_shape == (10,) and data.meta.num_outputs == 1
    assert [len(data.X_train), len(data.X_val), len(data.X_test)] == [264, 89, 89]
    assert data.y_train.shape == (264,) and data.y_train.dtype == np.float32


@pytest.mark.parametrize(
    ("options", "shape", "y_shape"),
    [
        ({"num_classes": 5, "num_features": 7}, (7,), ()),
        ({"input_shape": [3, 8, 8], "num_classes": 4}, (3, 8, 8), ()),
        ({"task": "regression", "num_features": 3}, (3,), ()),
        ({"task": "regression", "input_shape": [2, 4], "num_outputs": 3}, (2, 4), (3,)),
    ],
)
def test_synthetic_shapes(tmp_path, options, shape, y_shape):
    data = check_dataset(Synthetic, options, data_home=tmp_path)
    assert data.meta.input_shape == shape
    assert data.X_train.shape == (200, *shape) and data.y_train.shape == (200, *y_shape)
    assert len(data.X_val) == 50 and len(data.X_test) == 50


def test_synthetic_is_seeded(tmp_path):
    def load(**options):
        return Synthetic().load(Synthetic.Options(**options), data_home=tmp_path)

    np.testing.assert_array_equal(load(seed=3).X_train, load(seed=3).X_train)
    assert not np.array_equal(load(seed=3).X_train, load(seed=4).X_train)
    assert load(dtype="float64", num_training=10).X_train.dtype == np.float64


def test_synthetic_blobs_are_separable(tmp_path):
    data = Synthetic().load(Synthetic.Options(num_classes=3, cluster_std=0.1), data_home=tmp_path)
    centres = np.stack([data.X_train[data.y_train == c].mean(axis=0) for c in range(3)])
    nearest = np.argmin(((data.X_test[:, None] - centres) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == data.y_test) == 1.0


def test_synthetic_regression_targets_depend_on_the_inputs(tmp_path):
    data = Synthetic().load(Synthetic.Options(task="regression", num_features=4), data_home=tmp_path)
    weights, *_ = np.linalg.lstsq(data.X_train, data.y_train, rcond=None)
    residual = data.y_test - data.X_test @ weights
    assert residual.std() < 0.2 < data.y_test.std()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_synthetic_tensors_are_drawn_in_their_final_dtype_without_a_second_copy(tmp_path, dtype):
    options = Synthetic.Options(input_shape=(64, 64), num_training=1000, num_validation=10, num_test=10, dtype=dtype)
    size = 1020 * 64 * 64 * np.dtype(dtype).itemsize
    tracemalloc.start()
    try:
        data = Synthetic().load(options, data_home=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.X_train.dtype == dtype and data.X_train.base is data.X_test.base  # views of one array
    assert peak < 1.1 * size  # casting a float64 draw would take 1.5x (float32) or 2x (float64)


def test_synthetic_refuses_more_than_two_gib_before_generating():
    with pytest.raises(ValueError, match=r"1,000,000,100 samples of 2 float32 values are 7.5 GiB; at most 2 GiB"):
        Synthetic.Options(num_training=10**9)
    with pytest.raises(ValueError, match="at most 2 GiB"):
        Synthetic.Options(input_shape=(2**16, 2**16), dtype="float64", num_training=10)
    assert MAX_SYNTHETIC_BYTES == 2**31


def test_cifar10_reads_the_batches_channels_first(tmp_path):
    rows = _write_cifar(tmp_path / "cifar-10-batches-py")
    options = {"num_training": 30, "num_validation": 10, "num_test": 5}
    data = check_dataset(Cifar10, options, data_home=tmp_path)
    assert data.X_train.shape == (30, 3, 32, 32) and data.X_train.dtype == np.float32
    assert data.meta.class_names[0] == "airplane"
    np.testing.assert_array_equal(data.X_train.reshape(30, -1), rows[:30])
    np.testing.assert_array_equal(data.X_val.reshape(10, -1), rows[30:40])
    assert np.shares_memory(data.X_train.base, data.X_val.base)  # one array, two views


def test_cifar10_defaults_are_the_classic_split():
    assert Cifar10.Options().model_dump() == {"num_training": 49000, "num_validation": 1000, "num_test": 1000}


def test_cifar10_missing_data_names_directory_and_download_command(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path}/cifar-10-batches-py .*sweepnet data download cifar10"):
        Cifar10().load(Cifar10.Options(), data_home=tmp_path)


def test_cifar10_with_fewer_images_than_asked_is_a_data_error(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-py")
    with pytest.raises(DataError, match="cifar10: .* holds only 40 train images, 1000 requested"):
        Cifar10().load(Cifar10.Options(num_training=900, num_validation=100), data_home=tmp_path)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar10_refuses_a_batch_crafted_to_run_code(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    _write_cifar(root)
    marker = tmp_path / "exploited"
    with open(root / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Exploit(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DataError, match=f"cifar10: {root / 'data_batch_1'}: .*refusing to load global"):
        Cifar10().load(Cifar10.Options(num_training=5, num_validation=1, num_test=1), data_home=tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_mnist_reads_idx_files(tmp_path, suffix):
    images = _write_mnist(tmp_path / "mnist", 40, 12, suffix)
    data = check_dataset(Mnist, {"num_training": 30, "num_validation": 10, "num_test": 12}, data_home=tmp_path)
    assert data.X_train.shape == (30, 1, 28, 28) and data.X_train.dtype == np.float32
    np.testing.assert_allclose(data.X_val[:, 0], images[30:40] / 255, rtol=1e-6)
    assert data.X_train.max() <= 1.0


def test_mnist_defaults_are_the_classic_split():
    assert Mnist.Options().model_dump() == {"num_training": 50000, "num_validation": 10000, "num_test": 10000}


def test_mnist_problems_are_data_errors(tmp_path):
    _write_mnist(tmp_path / "mnist", 40, 12, ".gz")
    with pytest.raises(DataError, match="holds 40 training and 12 test images"):
        Mnist().load(Mnist.Options(), data_home=tmp_path)
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="mnist: .*t10k-images-idx3-ubyte.gz"):
        Mnist().load(Mnist.Options(num_training=30, num_validation=10, num_test=12), data_home=tmp_path)


def test_california_housing_parses_the_original_table(tmp_path):
    table = write_california(tmp_path / "california_housing", rows=50)
    data = check_dataset(CaliforniaHousing, data_home=tmp_path)
    assert data.meta.task == "regression" and data.meta.input_shape == (8,)
    assert [len(data.X_train), len(data.X_val), len(data.X_test)] == [30, 10, 10]
    targets = np.concatenate([data.y_train, data.y_val, data.y_test])
    np.testing.assert_allclose(np.sort(targets), np.sort(table[:, 8] / 1e5), rtol=1e-6)
    incomes = np.concatenate([data.X_train, data.X_val, data.X_test])[:, 0]
    np.testing.assert_allclose(np.sort(incomes), np.sort(table[:, 7]), rtol=1e-6)


def test_california_housing_features_match_scikit_learns(tmp_path):
    """The same arithmetic as fetch_california_housing, checked on scikit-learn's own code path
    (its loader fed our small table, without any download or cache)."""
    import io
    import tarfile

    from sklearn.datasets import _california_housing

    from sweepnet.plugins.datasets import read_california_housing

    write_california(tmp_path / "CaliforniaHousing", rows=40)
    X, y = read_california_housing(tmp_path / "CaliforniaHousing" / "cal_housing.data")
    buffer = io.BytesIO(california_archive(tmp_path / "CaliforniaHousing"))
    with tarfile.open(fileobj=buffer, mode="r:gz") as tar:
        raw = np.loadtxt(tar.extractfile("CaliforniaHousing/cal_housing.data"), delimiter=",")
    sk = raw[:, [8, 7, 2, 3, 4, 5, 6, 1, 0]]  # the column order _california_housing uses
    target, data = sk[:, 0] / 100000.0, sk[:, 1:].copy()
    data[:, 2] /= data[:, 5]
    data[:, 3] /= data[:, 5]
    data[:, 5] = data[:, 4] / data[:, 5]
    assert "columns_index = [8, 7, 2, 3, 4, 5, 6, 1, 0]" in open(_california_housing.__file__).read()
    np.testing.assert_allclose(X, data, rtol=1e-6)
    np.testing.assert_allclose(y, target, rtol=1e-6)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"1,2,3\n", "not the StatLib table"),
        (b"1,2,3,4,5,6,0,8,9\n", "not the StatLib table"),  # no households: a division by zero
        (b"1,2,3,4,5,6,7,8,nan\n", "not the StatLib table"),
        (b"a,b,c,d,e,f,g,h,i\n", "cannot read"),
        (b"\x80\x04\x95", "cannot read"),
    ],
)
def test_a_malformed_california_table_is_a_data_error_naming_the_file(tmp_path, content, problem):
    (tmp_path / "california_housing").mkdir()
    (tmp_path / "california_housing" / "cal_housing.data").write_bytes(content)
    with pytest.raises(DataError, match=f"^california_housing: .*{problem}") as err:
        CaliforniaHousing().load(CaliforniaHousing.Options(), data_home=tmp_path)
    assert "cal_housing.data" in str(err.value) and "\n" not in str(err.value)


def test_california_housing_missing_names_the_download_command(tmp_path):
    command = "sweepnet data download california_housing"
    with pytest.raises(DataError, match=f"california_housing .*cal_housing.data.*{command}"):
        CaliforniaHousing().load(CaliforniaHousing.Options(), data_home=tmp_path)


# --------------------------------------------------------------------------- no code runs from a data file


def _plant(path, marker):
    """Write, at ``path``, a pickle that creates ``marker`` when anything unpickles it (joblib too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({b"data": _Exploit(marker), b"labels": [0]}, f, protocol=2)


def _every_read_path(home):
    """Every file a built-in data set plugin could read under ``home``: each required file (every
    alternative), each downloaded file, scikit-learn's own cache names for California housing."""
    paths = []
    for cls in BUILTIN_DATASETS.values():
        if cls.source is None:
            continue
        folder = home / cls.source.folder
        paths += [folder / name for required in cls.source.required for name in required.split("|")]
        paths += [folder / remote.name for remote in cls.source.files]
        paths += [home / remote.name for remote in cls.source.files]
        paths += [folder / "batches.meta", folder / "cal_housing.domain"]
    paths += [home / "cal_housing_py3.pkz", home / "cal_housing.pkz"]
    paths += [home / "scikit_learn_data" / "cal_housing_py3.pkz"]
    return paths


def test_a_crafted_pickle_at_every_path_a_data_set_reads_runs_nothing(tmp_path, monkeypatch):
    """Issue 19: a crafted cal_housing_py3.pkz ran code during sweepnet validate. Plant one at every
    path the built-in data sets read, load each data set the way a sweep does, and check that the
    payload never ran: each load fails as a DataError naming the file, or never reads it."""
    from sweepnet.data import DataSpec, load_dataset
    from sweepnet.pluginmanager import create_plugin_manager

    home = tmp_path / "home"
    marker = tmp_path / "exploited"
    planted = _every_read_path(home)
    for path in planted:
        _plant(path, marker)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(home / "scikit_learn_data"))
    registry = create_plugin_manager(autoload=False).build_registries().datasets
    small = {"cifar10": {"num_training": 5, "num_validation": 1, "num_test": 1},
             "mnist": {"num_training": 5, "num_validation": 1, "num_test": 1}}  # fmt: skip
    for name in BUILTIN_DATASETS:
        spec = DataSpec(name=name, options=small.get(name, {}), data_dir=home)
        if BUILTIN_DATASETS[name].source is None:
            load_dataset(spec, registry)  # bundled: reads none of the planted files
            continue
        with pytest.raises(DataError, match=f"^{name}: ") as err:
            load_dataset(spec, registry)
        assert "\n" not in str(err.value)
    assert not marker.exists()
    assert len(planted) >= 20


def test_california_housing_never_reads_scikit_learns_pickle_cache(tmp_path):
    marker = tmp_path / "exploited"
    write_california(tmp_path / "california_housing", rows=20)
    for name in ("cal_housing_py3.pkz", "cal_housing.pkz"):
        _plant(tmp_path / name, marker)
    assert len(check_dataset(CaliforniaHousing, data_home=tmp_path).X_train) == 12
    assert not marker.exists()


def test_a_crafted_feature_cache_is_never_unpickled_and_is_computed_again(tmp_path):
    from sweepnet.data import DataSpec, load_dataset
    from sweepnet.pluginmanager import create_plugin_manager

    _write_cifar(tmp_path / "cifar-10-batches-py")
    registry = create_plugin_manager(autoload=False).build_registries().datasets
    spec = DataSpec(name="cifar10", options={"num_training": 30, "num_validation": 10, "num_test": 5},
                    data_dir=tmp_path, features="hog_hsv")  # fmt: skip
    first = load_dataset(spec, registry)
    caches = sorted((tmp_path / "cache" / "features").glob("*.npy"))
    assert len(caches) == 3  # train, val, test
    marker = tmp_path / "exploited"
    for path in caches:
        _plant(path, marker)
    with pytest.warns(UserWarning, match="ignoring the unreadable feature cache"):
        again = load_dataset(spec, registry)
    assert not marker.exists()
    np.testing.assert_array_equal(again.X_train, first.X_train)
