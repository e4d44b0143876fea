"""k-fold cross-validation splits of a training set."""

from __future__ import annotations

import numpy as np

__all__ = ["kfold_indices"]


def kfold_indices(
    y: np.ndarray, k: int, *, stratified: bool, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Deterministic k-fold splits; every sample is validated on exactly once.

    Parameters
    ----------
    y : (N,) labels (classification) or targets.
    k : number of folds, 2 <= k <= N.
    stratified : keep each class's share in every fold (scikit-learn's StratifiedKFold).
    seed : shuffling seed; the same ``y``, ``k`` and ``seed`` give the same folds.

    Returns
    -------
    folds : k pairs ``(train_idx, val_idx)`` of sorted int64 indices into ``y``.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    if not 2 <= k <= len(y):
        raise ValueError(f"k must be between 2 and the {len(y)} samples, got {k}")
    splitter = (StratifiedKFold if stratified else KFold)(n_splits=k, shuffle=True, random_state=seed)
    return tuple((train.astype(np.int64), val.astype(np.int64)) for train, val in splitter.split(np.zeros(len(y)), y))
