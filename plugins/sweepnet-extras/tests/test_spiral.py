"""The spiral data set honours the Dataset contract and is reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from sweepnet_extras import Spiral

from sweepnet.plugin import check_dataset


def test_conformance(tmp_path):
    dataset = check_dataset(Spiral, {"classes": 4, "points_per_class": 50}, data_home=tmp_path)
    assert dataset.meta.input_shape == (2,) and dataset.meta.num_classes == 4
    assert len(dataset.X_train) + len(dataset.X_val) + len(dataset.X_test) == 200


def test_splits_are_stratified_and_disjoint(tmp_path):
    dataset = check_dataset(Spiral, {"points_per_class": 100}, data_home=tmp_path)
    for y in (dataset.y_train, dataset.y_val, dataset.y_test):
        counts = np.bincount(y, minlength=3)
        assert counts.min() == counts.max()
    points = np.concatenate([dataset.X_train, dataset.X_val, dataset.X_test])
    off_centre = points[np.any(points != 0, axis=1)]  # every arm starts at the origin
    assert len(points) - len(off_centre) == 3
    assert len(np.unique(off_centre, axis=0)) == len(off_centre)


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    first, again, other = (check_dataset(Spiral, {"seed": s}, data_home=tmp_path) for s in (0, 0, 1))
    np.testing.assert_array_equal(first.X_train, again.X_train)
    assert not np.array_equal(first.X_train, other.X_train)


def test_points_lie_in_the_unit_disc_and_arrays_are_read_only(tmp_path):
    dataset = check_dataset(Spiral, data_home=tmp_path)
    assert np.linalg.norm(dataset.X_train, axis=1).max() <= 1 + 1e-6
    assert not dataset.X_train.flags.writeable


def test_bad_options_are_rejected():
    with pytest.raises(ValidationError):
        Spiral.Options(classes=1)
    with pytest.raises(ValidationError):
        Spiral.Options(colours=3)
