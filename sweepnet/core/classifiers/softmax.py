"""Softmax (cross-entropy) loss of a linear classifier, with L2 regularisation."""

from __future__ import annotations

import numpy as np

__all__ = ["softmax_loss_naive", "softmax_loss_vectorized"]


def softmax_loss_naive(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Softmax loss with explicit loops.

    Parameters
    ----------
    W : (D, C) weights.
    X : (N, D) minibatch of samples.
    y : (N,) labels, ``0 <= y[i] < C``.
    reg : regularisation strength; adds ``reg * sum(W * W)``.

    Returns
    -------
    loss : the cross-entropy averaged over the N samples, plus the regularisation.
    dW : (D, C) gradient of the loss with respect to ``W``.
    """
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(num_train):
        scores = X[i] @ W
        scores = scores - np.max(scores)  # shifting by the max keeps exp from overflowing
        exp_scores = np.exp(scores)
        sum_exp = np.sum(exp_scores)
        loss += np.log(sum_exp) - scores[y[i]]
        for j in range(num_classes):
            dW[:, j] += (exp_scores[j] / sum_exp - (j == y[i])) * X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return float(loss), dW


def softmax_loss_vectorized(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Softmax loss without loops; same inputs and outputs as :func:`softmax_loss_naive`."""
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    loss = -np.sum(log_probs[rows, y]) / num_train + reg * np.sum(W * W)

    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dW = X.T @ dscores / num_train + 2 * reg * W
    return float(loss), dW
