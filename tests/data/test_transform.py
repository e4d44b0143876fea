"""The preprocessing as a transform of raw samples: new inputs become exactly what a model trained on."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.data import Dataset, DatasetMeta, DataSpec
from sweepnet.data.preprocess import preprocess
from sweepnet.data.transform import Preprocessing
from sweepnet.errors import DataError


def _dataset(shape=(3, 8, 8), n=(20, 6, 5), dtype=np.float32, seed=0) -> Dataset:
    """Random colour images (or other samples) of a plugin, fresh arrays on every call."""
    rng = np.random.default_rng(seed)
    X = [(rng.random((k, *shape)) * 255).astype(dtype) for k in n]
    y = [rng.integers(0, 3, k) for k in n]
    return Dataset(DatasetMeta("toy", "classification", shape, num_classes=3), X[0], y[0], X[1], y[1], X[2], y[2])


SPECS = {
    "nothing": {},
    "flatten": {"flatten": True},
    "mean": {"subtract_mean": True},
    "standardize": {"flatten": True, "standardize": True},
    "bias trick": {"standardize": True, "bias_trick": True},
    "hog_hsv": {"features": "hog_hsv", "standardize": True, "bias_trick": True, "num_train": 12},
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("options", SPECS.values(), ids=SPECS.keys())
def test_raw_splits_transform_to_the_preprocessed_ones_bit_for_bit(options, dtype):
    out = preprocess(_dataset(dtype=dtype), DataSpec(name="toy", **options))
    transform = out.meta.preprocessing
    raw = _dataset(dtype=dtype)  # the plugin's splits again: preprocess may have normalised its own in place
    for split in ("train", "val", "test"):
        want = getattr(out, f"X_{split}")
        got = transform.apply(getattr(raw, f"X_{split}")[: len(want)])  # num_train keeps the first samples
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert transform.raw_shape == (3, 8, 8) and transform.raw_dtype == np.dtype(dtype).name


def test_it_records_the_training_statistics():
    raw = _dataset(dtype=np.float64)
    train = raw.X_train.reshape(20, -1).copy()
    spec = DataSpec(name="toy", flatten=True, standardize=True, bias_trick=True)
    transform = preprocess(raw, spec).meta.preprocessing
    np.testing.assert_allclose(transform.mean, train.mean(axis=0))
    np.testing.assert_allclose(transform.scale, train.std(axis=0))
    assert transform.flatten and transform.bias_trick and transform.features is None
    assert preprocess(_dataset(), DataSpec(name="toy", subtract_mean=True)).meta.preprocessing.scale is None


def test_inputs_may_be_flat_rows_lists_or_other_numbers_and_are_not_modified():
    out = preprocess(_dataset(), DataSpec(name="toy", standardize=True))
    transform, raw = out.meta.preprocessing, _dataset().X_test
    kept = raw.copy()
    expected = transform.apply(raw)
    np.testing.assert_array_equal(raw, kept)
    np.testing.assert_array_equal(transform.apply(raw.reshape(5, -1)), expected)  # rows of a table
    np.testing.assert_array_equal(transform.apply(raw.astype(np.float64).tolist()), expected)  # JSON numbers


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (np.zeros((2, 3, 8, 7)), r"inputs of shape \(2, 3, 8, 7\) are not raw samples of shape \(3, 8, 8\): "
                                 r"give an array \(N, 3, 8, 8\) or N rows of 192 values"),
        (np.zeros(192), r"inputs of shape \(192,\) are not raw samples"),
        (np.array([["a"] * 192]), r"inputs must be numbers, got an array of <U1"),
        (np.array([[None] * 192]), r"inputs must be numbers, got an array of object"),
    ],
)  # fmt: skip
def test_inputs_that_are_not_raw_samples_are_a_data_error(inputs, message):
    transform = Preprocessing((3, 8, 8), "float32")
    with pytest.raises(DataError, match=message):
        transform.apply(inputs)
