"""``TwoLayerNet``: affine - relu - affine - softmax."""

from __future__ import annotations

import numpy as np

from sweepnet.core.layer_utils import affine_relu_backward, affine_relu_forward
from sweepnet.core.layers import affine_backward, affine_forward, softmax_loss
from sweepnet.core.models._weights import add_l2, normal_sampler

__all__ = ["TwoLayerNet"]


class TwoLayerNet:
    """A two-layer fully connected network with a ReLU and a softmax loss.

    Architecture: affine - relu - affine - softmax. Parameters (float64, as in the classic code):
    ``W1: (D, H)``, ``b1: (H,)``, ``W2: (H, C)``, ``b2: (C,)``.

    Parameters
    ----------
    input_dim : D, the size of one (flattened) input.
    hidden_dim : H, the size of the hidden layer.
    num_classes : C.
    weight_scale : standard deviation of the normal initial weights (biases start at zero).
    reg : L2 regularisation strength.
    seed, rng : seed of, or generator for, the weight initialisation (at most one; with neither
        the global ``np.random`` state is used).
    """

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        draw = normal_sampler(seed, rng)
        self.reg = reg
        self.params = {
            "W1": weight_scale * draw((input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "W2": weight_scale * draw((hidden_dim, num_classes)),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores, or loss and gradients, for a minibatch.

        Parameters
        ----------
        X : (N, d_1, ..., d_k) inputs with ``d_1 * ... * d_k == D``.
        y : (N,) integer labels, or None.

        Returns
        -------
        scores : (N, C) when ``y`` is None; otherwise
        loss : float, data loss plus L2 regularisation, and
        grads : dict like ``params``, the gradient of ``loss`` for each parameter.
        """
        p = self.params
        hidden, hidden_cache = affine_relu_forward(X, p["W1"], p["b1"])
        scores, scores_cache = affine_forward(hidden, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads: dict[str, np.ndarray] = {}
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, scores_cache)
        _, grads["W1"], grads["b1"] = affine_relu_backward(dhidden, hidden_cache)
        return add_l2(loss, grads, p, ("W1", "W2"), self.reg), grads
