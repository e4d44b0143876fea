"""Shared data for the classifier tests."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture(scope="session")
def digits() -> dict[str, np.ndarray]:
    """scikit-learn's 8x8 digits, flattened, scaled to [0, 1], mean-centred, with a bias column.

    Returns ``X_train (1400, 65)``, ``y_train``, ``X_val (397, 65)``, ``y_val``.
    """
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order] / 16.0, y[order]
    X = X - X[:1400].mean(axis=0)
    X = np.hstack([X, np.ones((len(X), 1))])
    return {"X_train": X[:1400], "y_train": y[:1400], "X_val": X[1400:], "y_val": y[1400:]}


@pytest.fixture
def small_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A float64 problem small enough for explicit loops: ``W (6, 4)``, ``X (12, 6)``, ``y (12,)``."""
    rng = np.random.default_rng(42)
    return rng.standard_normal((6, 4)), rng.standard_normal((12, 6)), rng.integers(0, 4, 12)
