from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from sweepnet.core.classifiers import KNearestNeighbor


def _trained(X_train: np.ndarray, y_train: np.ndarray) -> KNearestNeighbor:
    knn = KNearestNeighbor()
    knn.train(X_train, y_train)
    return knn


@pytest.mark.parametrize(("num_test", "num_train", "dim"), [(1, 1, 1), (5, 7, 3), (20, 50, 32), (13, 4, 100)])
def test_three_distance_functions_agree_with_cdist(num_test: int, num_train: int, dim: int) -> None:
    rng = np.random.default_rng(num_test * 1000 + dim)
    X_train, X_test = rng.standard_normal((num_train, dim)), rng.standard_normal((num_test, dim))
    knn = _trained(X_train, rng.integers(0, 3, num_train))
    expected = cdist(X_test, X_train)
    for dists in (
        knn.compute_distances_two_loops(X_test),
        knn.compute_distances_one_loop(X_test),
        knn.compute_distances_no_loops(X_test),
    ):
        assert dists.shape == (num_test, num_train)
        np.testing.assert_allclose(dists, expected, rtol=1e-10, atol=1e-10)


def test_no_loops_is_finite_and_zero_for_identical_points() -> None:
    # Large, nearly equal norms make |a|^2 - 2ab + |b|^2 round below zero without the clipping.
    X = 1e4 + np.random.default_rng(0).standard_normal((30, 8))
    dists = _trained(X, np.zeros(30, dtype=int)).compute_distances_no_loops(X)
    assert np.all(np.isfinite(dists))
    assert np.max(np.diag(dists)) < 1e-2  # tiny next to the 1e4 scale of the data


def test_uint8_images_do_not_overflow() -> None:
    rng = np.random.default_rng(1)
    X_train, X_test = rng.integers(0, 256, (6, 48), dtype=np.uint8), rng.integers(0, 256, (3, 48), dtype=np.uint8)
    knn = _trained(X_train, np.arange(6))
    expected = cdist(X_test.astype(float), X_train.astype(float))
    for num_loops in (0, 1, 2):
        compute = [knn.compute_distances_no_loops, knn.compute_distances_one_loop, knn.compute_distances_two_loops]
        np.testing.assert_allclose(compute[num_loops](X_test), expected, rtol=1e-10)


def test_predict_labels_majority_and_ties_go_to_the_smaller_label() -> None:
    knn = _trained(np.zeros((5, 1)), np.array([3, 1, 1, 3, 0]))
    dists = np.array(
        [
            [0.1, 0.2, 0.3, 0.4, 0.5],  # labels by rank: 3 1 1 3 0
            [0.5, 0.4, 0.3, 0.2, 0.1],  # labels by rank: 0 3 1 1 3
        ]
    )
    np.testing.assert_array_equal(knn.predict_labels(dists, k=1), [3, 0])
    np.testing.assert_array_equal(knn.predict_labels(dists, k=2), [1, 0])  # 1:1 ties
    np.testing.assert_array_equal(knn.predict_labels(dists, k=3), [1, 0])  # 2 votes beat the nearest; 1:1:1
    np.testing.assert_array_equal(knn.predict_labels(dists, k=5), [1, 1])  # 2:2 ties, whichever is nearer


def test_predict_on_separable_blobs_is_perfect_for_every_k_and_implementation() -> None:
    rng = np.random.default_rng(2)
    centres = 10.0 * np.eye(3, 5)
    y_train, y_test = np.repeat(np.arange(3), 20), np.repeat(np.arange(3), 7)
    X_train = centres[y_train] + rng.standard_normal((60, 5))
    X_test = centres[y_test] + rng.standard_normal((21, 5))
    knn = _trained(X_train, y_train)
    for k in (1, 3, 7):
        for num_loops in (0, 1, 2):
            y_pred = knn.predict(X_test, k=k, num_loops=num_loops)
            np.testing.assert_array_equal(y_pred, y_test)
            assert y_pred.dtype == y_train.dtype


def test_bad_arguments_raise() -> None:
    knn = KNearestNeighbor()
    with pytest.raises(RuntimeError, match="train"):
        knn.predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="shape"):
        knn.train(np.zeros((3, 2)), np.zeros(4))
    knn.train(np.zeros((3, 2)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="num_loops"):
        knn.predict(np.zeros((1, 2)), num_loops=3)
    with pytest.raises(ValueError, match="k must be"):
        knn.predict(np.zeros((1, 2)), k=0)
