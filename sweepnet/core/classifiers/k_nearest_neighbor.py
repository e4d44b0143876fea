"""k-nearest-neighbour classification with L2 distances."""

from __future__ import annotations

import numpy as np

__all__ = ["KNearestNeighbor"]


class KNearestNeighbor:
    """A kNN classifier with L2 distance.

    Training only memorises the data; every prediction compares against all training samples.
    """

    def __init__(self) -> None:
        self.X_train: np.ndarray | None = None
        self.y_train: np.ndarray | None = None

    def train(self, X: np.ndarray, y: np.ndarray) -> None:
        """Memorise the training data.

        Parameters
        ----------
        X : (num_train, D) training samples.
        y : (num_train,) integer labels; ``y[i]`` is the label of ``X[i]``.
        """
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim != 2 or y.shape != (X.shape[0],):
            raise ValueError(f"expected X of shape (N, D) and y of shape (N,), got {X.shape} and {y.shape}")
        self.X_train, self.y_train = X, y

    def predict(self, X: np.ndarray, k: int = 1, num_loops: int = 0) -> np.ndarray:
        """Predict labels for test data.

        Parameters
        ----------
        X : (num_test, D) test samples.
        k : number of nearest neighbours that vote for the label.
        num_loops : which distance implementation to use: 0, 1 or 2 Python loops.

        Returns
        -------
        y_pred : (num_test,) predicted labels.
        """
        distance_fns = {
            0: self.compute_distances_no_loops,
            1: self.compute_distances_one_loop,
            2: self.compute_distances_two_loops,
        }
        if num_loops not in distance_fns:
            raise ValueError(f"Invalid value {num_loops} for num_loops (expected 0, 1 or 2)")
        return self.predict_labels(distance_fns[num_loops](X), k=k)

    def compute_distances_two_loops(self, X: np.ndarray) -> np.ndarray:
        """L2 distances with a Python loop over both test and training samples.

        Parameters
        ----------
        X : (num_test, D) test samples.

        Returns
        -------
        dists : (num_test, num_train); ``dists[i, j]`` is the distance from ``X[i]`` to ``X_train[j]``.
        """
        X, X_train = self._as_float(X)
        dists = np.zeros((X.shape[0], X_train.shape[0]))
        for i in range(X.shape[0]):
            for j in range(X_train.shape[0]):
                dists[i, j] = np.sqrt(np.sum((X[i] - X_train[j]) ** 2))
        return dists

    def compute_distances_one_loop(self, X: np.ndarray) -> np.ndarray:
        """L2 distances with a Python loop over test samples only (see two-loop version)."""
        X, X_train = self._as_float(X)
        dists = np.zeros((X.shape[0], X_train.shape[0]))
        for i in range(X.shape[0]):
            dists[i] = np.sqrt(np.sum((X_train - X[i]) ** 2, axis=1))
        return dists

    def compute_distances_no_loops(self, X: np.ndarray) -> np.ndarray:
        """Fully vectorised L2 distances via ``|a - b|^2 = |a|^2 - 2 a.b + |b|^2`` (see two-loop version)."""
        X, X_train = self._as_float(X)
        squared = np.sum(X**2, axis=1)[:, np.newaxis] - 2.0 * X @ X_train.T + np.sum(X_train**2, axis=1)
        # Cancellation can leave tiny negatives where the true distance is ~0.
        return np.sqrt(np.maximum(squared, 0.0))

    def predict_labels(self, dists: np.ndarray, k: int = 1) -> np.ndarray:
        """Majority vote among the ``k`` nearest training samples.

        Parameters
        ----------
        dists : (num_test, num_train) distances between test and training samples.
        k : number of neighbours that vote; ties between labels go to the smaller label.

        Returns
        -------
        y_pred : (num_test,) predicted labels, of the training labels' dtype.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        y_train = self._training_data()[1]
        # A stable sort makes ties in distance resolve to the earlier training sample.
        nearest = np.argsort(dists, axis=1, kind="stable")[:, :k]
        y_pred = np.empty(dists.shape[0], dtype=y_train.dtype)
        for i, closest_y in enumerate(y_train[nearest]):
            labels, votes = np.unique(closest_y, return_counts=True)
            y_pred[i] = labels[np.argmax(votes)]  # labels are sorted, argmax takes the first maximum
        return y_pred

    def _training_data(self) -> tuple[np.ndarray, np.ndarray]:
        if self.X_train is None or self.y_train is None:
            raise RuntimeError("KNearestNeighbor: call train(X, y) before predicting")
        return self.X_train, self.y_train

    def _as_float(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # float64 keeps uint8 images from overflowing and the expansion in no_loops accurate.
        X_train = self._training_data()[0]
        return np.asarray(X, dtype=np.float64), np.asarray(X_train, dtype=np.float64)
