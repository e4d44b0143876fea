"""Preprocessing: training-split statistics, views instead of copies, read-only results."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.data import Dataset, DatasetMeta, DataSpec
from sweepnet.data.features import hog_hsv_features
from sweepnet.data.preprocess import _std, preprocess
from sweepnet.errors import ConfigError


def _dataset(shape=(2, 3, 3), n=(20, 6, 4), dtype=np.float32, task="classification", seed=0):
    rng = np.random.default_rng(seed)
    X = [(rng.standard_normal((k, *shape)) * 3 + 5).astype(dtype) for k in n]
    y = [rng.integers(0, 3, k) for k in n]
    meta = DatasetMeta("toy", task, shape, num_classes=3 if task == "classification" else None)
    return Dataset(meta, X[0], y[0], X[1], y[1], X[2], y[2])


def _splits(data):
    return [data.X_train, data.y_train, data.X_val, data.y_val, data.X_test, data.y_test]


def test_no_preprocessing_only_freezes(tmp_path):
    raw = _dataset()
    out = preprocess(raw, DataSpec(name="toy"))
    for before, after in zip(_splits(raw), _splits(out), strict=True):
        assert after is before and not after.flags.writeable
    assert out.meta == raw.meta and out.folds == ()


def test_subsampling_keeps_the_first_samples_as_views():
    raw = _dataset()
    out = preprocess(raw, DataSpec(name="toy", num_train=5, num_val=2, num_test=1))
    assert [len(a) for a in _splits(out)] == [5, 5, 2, 2, 1, 1]
    assert np.shares_memory(out.X_train, raw.X_train)
    np.testing.assert_array_equal(out.y_train, raw.y_train[:5])
    np.testing.assert_array_equal(out.X_test, raw.X_test[:1])


@pytest.mark.parametrize("field", ["num_train", "num_val", "num_test"])
def test_subsampling_more_than_there_is_names_the_field(field):
    with pytest.raises(ConfigError, match=f"data.{field}: 100 exceeds the"):
        preprocess(_dataset(), DataSpec(name="toy", **{field: 100}))


def test_flatten_updates_the_input_shape():
    out = preprocess(_dataset(), DataSpec(name="toy", flatten=True))
    assert out.X_train.shape == (20, 18) and out.X_val.shape == (6, 18)
    assert out.meta.input_shape == (18,)


def test_mean_subtraction_uses_the_training_split_only():
    raw = _dataset(dtype=np.float64)
    mean = raw.X_train.mean(axis=0)
    expected = [raw.X_train - mean, raw.X_val - mean, raw.X_test - mean]
    out = preprocess(raw, DataSpec(name="toy", subtract_mean=True))
    for got, want in zip((out.X_train, out.X_val, out.X_test), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12)
    assert out.meta.input_shape == (2, 3, 3)


def test_standardisation_uses_training_statistics_and_leaves_constant_inputs_alone():
    raw = _dataset(dtype=np.float64)
    raw.X_train[:, 0, 0, 0] = 7.0
    mean, std = raw.X_train.mean(axis=0), raw.X_train.std(axis=0)
    std[0, 0, 0] = 1.0
    expected_val = (raw.X_val - mean) / std
    out = preprocess(raw, DataSpec(name="toy", standardize=True))
    np.testing.assert_allclose(out.X_train.std(axis=0)[1:], 1.0)
    np.testing.assert_allclose(out.X_train.mean(axis=0), 0.0, atol=1e-12)
    assert np.all(out.X_train[:, 0, 0, 0] == 0.0)
    np.testing.assert_allclose(out.X_val, expected_val)


def test_chunked_std_matches_numpy():
    x = np.random.default_rng(1).standard_normal((9000, 3)) * [1.0, 5.0, 1e-3] + 100.0
    np.testing.assert_allclose(_std(x, x.mean(axis=0)), x.std(axis=0), rtol=1e-10)


def test_bias_trick_flattens_and_appends_a_one_after_normalising():
    out = preprocess(_dataset(), DataSpec(name="toy", subtract_mean=True, bias_trick=True))
    assert out.X_train.shape == (20, 19) and out.meta.input_shape == (19,)
    for X in (out.X_train, out.X_val, out.X_test):
        assert np.all(X[:, -1] == 1.0)
    np.testing.assert_allclose(out.X_train[:, :-1].mean(axis=0), 0.0, atol=1e-5)


def test_writeable_float_arrays_are_normalised_in_place():
    raw = _dataset()
    out = preprocess(raw, DataSpec(name="toy", subtract_mean=True, flatten=True))
    assert np.shares_memory(out.X_train, raw.X_train)  # no second copy of the training set
    assert out.X_train.dtype == np.float32


def test_read_only_integer_and_aliased_inputs_are_copied_not_modified():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (10, 4), dtype=np.uint8)
    shared = rng.standard_normal((5, 4))
    frozen = rng.standard_normal((5, 4))
    frozen.flags.writeable = False
    meta = DatasetMeta("toy", "classification", (4,), num_classes=2)
    raw = Dataset(meta, pixels, np.zeros(10, int), shared, np.zeros(5, int), shared, np.zeros(5, int))
    expected = shared - pixels.mean(axis=0)
    out = preprocess(raw, DataSpec(name="toy", subtract_mean=True))
    assert out.X_train.dtype == np.float32
    # val and test are the same array: it must be centred once, not twice.
    np.testing.assert_allclose(out.X_val, expected, rtol=1e-6)
    np.testing.assert_allclose(out.X_test, expected, rtol=1e-6)
    raw = Dataset(meta, frozen, np.zeros(5, int), frozen[:2], np.zeros(2, int), frozen[:1], np.zeros(1, int))
    before = frozen.copy()
    preprocess(raw, DataSpec(name="toy", subtract_mean=True))
    np.testing.assert_array_equal(frozen, before)


def test_every_result_array_is_read_only():
    out = preprocess(_dataset(), DataSpec(name="toy", standardize=True, bias_trick=True, cv=3))
    for array in _splits(out) + [i for fold in out.folds for i in fold]:
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


def test_cv_folds_cover_the_training_split():
    out = preprocess(_dataset(n=(30, 6, 4)), DataSpec(name="toy", cv=5))
    assert len(out.folds) == 5
    np.testing.assert_array_equal(np.sort(np.concatenate([val for _, val in out.folds])), np.arange(30))


def test_cv_folds_of_a_subsample_index_the_subsample():
    out = preprocess(_dataset(n=(30, 6, 4)), DataSpec(name="toy", num_train=10, cv=2))
    assert max(int(val.max()) for _, val in out.folds) < 10


def test_too_many_folds_is_a_config_error():
    with pytest.raises(ConfigError, match="data.cv: cannot make 50 folds"):
        preprocess(_dataset(), DataSpec(name="toy", cv=50))


def test_regression_folds_are_not_stratified():
    out = preprocess(_dataset(task="regression"), DataSpec(name="toy", cv=4))
    assert len(out.folds) == 4


def test_hog_hsv_features_replace_colour_images(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (k, 3, 16, 16)).astype(np.float32) for k in (4, 2, 2)]
    labels = [np.zeros(len(x), int) for x in images]
    meta = DatasetMeta("colour", "classification", (3, 16, 16), num_classes=2)
    raw = Dataset(meta, images[0], labels[0], images[1], labels[1], images[2], labels[2])
    out = preprocess(raw, DataSpec(name="colour", features="hog_hsv", bias_trick=True), cache_dir=tmp_path)
    features = 2 * 2 * 9 + 10
    assert out.X_train.shape == (4, features + 1) and out.meta.input_shape == (features + 1,)
    np.testing.assert_allclose(out.X_val[:, :-1], hog_hsv_features(images[1]))
    assert len(list(tmp_path.glob("*.npy"))) == 3  # one cached file per split


def test_hog_hsv_features_need_colour_images():
    with pytest.raises(ConfigError, match=r"data.features: hog_hsv needs colour images .* toy gives \(2, 3, 3\)"):
        preprocess(_dataset(), DataSpec(name="toy", features="hog_hsv"))
