"""Multiclass SVM (hinge) loss of a linear classifier, with L2 regularisation."""

from __future__ import annotations

import numpy as np

__all__ = ["svm_loss_naive", "svm_loss_vectorized"]


def svm_loss_naive(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Structured SVM loss with explicit loops, margin 1.

    Parameters
    ----------
    W : (D, C) weights.
    X : (N, D) minibatch of samples.
    y : (N,) labels, ``0 <= y[i] < C``.
    reg : regularisation strength; adds ``reg * sum(W * W)``.

    Returns
    -------
    loss : the data loss averaged over the N samples, plus the regularisation.
    dW : (D, C) gradient of the loss with respect to ``W``.
    """
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(num_train):
        scores = X[i] @ W
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return float(loss), dW


def svm_loss_vectorized(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Structured SVM loss without loops; same inputs and outputs as :func:`svm_loss_naive`."""
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W
    margins = np.maximum(0, scores - scores[rows, y][:, np.newaxis] + 1)
    margins[rows, y] = 0
    loss = np.sum(margins) / num_train + reg * np.sum(W * W)

    # Each violated margin pushes its class score up and the correct class score down.
    dscores = (margins > 0).astype(W.dtype)
    dscores[rows, y] = -np.sum(dscores, axis=1)
    dW = X.T @ dscores / num_train + 2 * reg * W
    return float(loss), dW
