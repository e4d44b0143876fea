"""k-fold indices: a partition of the training split, deterministic, stratified for labels."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.data import kfold_indices


@pytest.mark.parametrize("stratified", [True, False])
def test_every_sample_is_validated_exactly_once(stratified):
    y = np.repeat(np.arange(4), 10)
    folds = kfold_indices(y, 5, stratified=stratified)
    assert len(folds) == 5
    for train, val in folds:
        assert train.dtype == np.int64 and val.dtype == np.int64
        assert len(np.intersect1d(train, val)) == 0
        assert len(train) + len(val) == len(y)
    np.testing.assert_array_equal(np.sort(np.concatenate([val for _, val in folds])), np.arange(len(y)))


def test_stratified_folds_keep_the_class_shares():
    y = np.array([0] * 50 + [1] * 25 + [2] * 25)
    for _, val in kfold_indices(y, 5, stratified=True):
        np.testing.assert_array_equal(np.bincount(y[val]), [10, 5, 5])


def test_folds_are_deterministic_and_depend_on_the_seed():
    y = np.arange(30) % 3
    first, again = kfold_indices(y, 3, stratified=True), kfold_indices(y, 3, stratified=True)
    other = kfold_indices(y, 3, stratified=True, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other, strict=True))


def test_folds_are_shuffled_not_contiguous_blocks():
    _, val = kfold_indices(np.zeros(100), 5, stratified=False)[0]
    assert not np.array_equal(val, np.arange(20))


@pytest.mark.parametrize("k", [1, 11])
def test_fold_count_must_fit_the_samples(k):
    with pytest.raises(ValueError, match="k must be between 2 and the 10 samples"):
        kfold_indices(np.zeros(10), k, stratified=False)
