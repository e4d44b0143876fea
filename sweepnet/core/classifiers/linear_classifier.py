"""Linear classifiers ``scores = X @ W`` trained by minibatch SGD."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from sweepnet.core.classifiers.linear_svm import svm_loss_vectorized
from sweepnet.core.classifiers.softmax import softmax_loss_vectorized

__all__ = ["LinearClassifier", "LinearSVM", "Softmax"]


class LinearClassifier(ABC):
    """A linear classifier; subclasses choose the loss.

    Attributes
    ----------
    W : (D, C) weights, created by the first call to :meth:`train`; ``None`` before.
    """

    def __init__(self) -> None:
        self.W: np.ndarray | None = None

    def train(
        self,
        X: np.ndarray,
        y: np.ndarray,
        learning_rate: float = 1e-3,
        reg: float = 1e-5,
        num_iters: int = 100,
        batch_size: int = 200,
        verbose: bool = False,
        *,
        seed: int | np.random.Generator | None = None,
    ) -> list[float]:
        """Train with stochastic gradient descent on minibatches drawn with replacement.

        Parameters
        ----------
        X : (N, D) training samples.
        y : (N,) labels, ``0 <= y[i] < C``; ``C = max(y) + 1`` when ``W`` is created.
        learning_rate : SGD step size.
        reg : regularisation strength.
        num_iters : number of SGD steps.
        batch_size : samples per step.
        verbose : print the loss every 100 iterations.
        seed : seed or generator for the initial weights and the minibatches; ``None`` uses the
            global ``np.random`` state, as the classic code does.

        Returns
        -------
        loss_history : the minibatch loss of every iteration.
        """
        num_train, dim = X.shape
        # np.random and a Generator share standard_normal and choice, so one code path serves both.
        rng = np.random if seed is None else np.random.default_rng(seed)
        if self.W is None:
            self.W = 0.001 * rng.standard_normal((dim, int(np.max(y)) + 1))

        loss_history = []
        for it in range(num_iters):
            batch = rng.choice(num_train, batch_size, replace=True)
            loss, grad = self.loss(X[batch], y[batch], reg)
            loss_history.append(loss)
            self.W -= learning_rate * grad
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:f}")
        return loss_history

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predict the highest-scoring class.

        Parameters
        ----------
        X : (N, D) samples.

        Returns
        -------
        y_pred : (N,) predicted labels.
        """
        if self.W is None:
            raise RuntimeError(f"{type(self).__name__}: call train(X, y) before predict(X)")
        return np.argmax(X @ self.W, axis=1)

    @abstractmethod
    def loss(self, X_batch: np.ndarray, y_batch: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
        """Loss and gradient of the current weights on a minibatch.

        Parameters
        ----------
        X_batch : (N, D) samples.
        y_batch : (N,) labels.
        reg : regularisation strength.

        Returns
        -------
        loss : scalar loss.
        dW : (D, C) gradient with respect to ``self.W``.
        """


class LinearSVM(LinearClassifier):
    """Linear classifier trained with the multiclass SVM loss."""

    def loss(self, X_batch: np.ndarray, y_batch: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
        assert self.W is not None, "train() initialises W before the first loss"
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)


class Softmax(LinearClassifier):
    """Linear classifier trained with the softmax (cross-entropy) loss."""

    def loss(self, X_batch: np.ndarray, y_batch: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
        assert self.W is not None, "train() initialises W before the first loss"
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)
