"""The classic linear and nearest-neighbour classifiers with their loss functions.

Mirrors the CS231n ``classifiers`` package, so ``from sweepnet.core.classifiers import LinearSVM``
and ``from sweepnet.core.classifiers.linear_svm import svm_loss_naive`` both work.
"""

from __future__ import annotations

from sweepnet.core.classifiers.k_nearest_neighbor import KNearestNeighbor
from sweepnet.core.classifiers.linear_classifier import LinearClassifier, LinearSVM, Softmax
from sweepnet.core.classifiers.linear_svm import svm_loss_naive, svm_loss_vectorized
from sweepnet.core.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized

__all__ = [
    "KNearestNeighbor",
    "LinearClassifier",
    "LinearSVM",
    "Softmax",
    "softmax_loss_naive",
    "softmax_loss_vectorized",
    "svm_loss_naive",
    "svm_loss_vectorized",
]
