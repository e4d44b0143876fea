"""``ThreeLayerConvNet``: conv - relu - 2x2 max pool - affine - relu - affine - softmax."""

from __future__ import annotations

import numpy as np

from sweepnet.core.layer_utils import (
    affine_relu_backward,
    affine_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from sweepnet.core.layers import affine_backward, affine_forward, softmax_loss
from sweepnet.core.models._weights import add_l2, normal_sampler

__all__ = ["ThreeLayerConvNet"]


class ThreeLayerConvNet:
    """A three-layer convolutional network on the fast (Cython) conv and pool layers.

    Architecture: conv - relu - 2x2 max pool - affine - relu - affine - softmax. The convolution
    has stride 1 and the zero padding that keeps H and W; the pool halves them. Parameters:
    ``W1: (F, C, K, K)``, ``b1: (F,)``, ``W2: (F * (H // 2) * (W // 2), hidden_dim)``,
    ``b2: (hidden_dim,)``, ``W3: (hidden_dim, num_classes)``, ``b3: (num_classes,)``.

    Parameters
    ----------
    input_dim : (C, H, W) of one input.
    num_filters : F.
    filter_size : K, odd so that the padding keeps the size.
    hidden_dim : size of the hidden affine layer.
    num_classes : number of classes.
    weight_scale : standard deviation of the normal initial weights (biases start at zero).
    reg : L2 regularisation strength (weights only).
    dtype : dtype of the parameters and of the computation.
    seed, rng : seed of, or generator for, the weight initialisation (at most one; with neither
        the global ``np.random`` state is used).
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (3, 32, 32),
        num_filters: int = 32,
        filter_size: int = 7,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: type | np.dtype = np.float32,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        if filter_size % 2 == 0:
            raise ValueError(f"filter_size must be odd so that the padding keeps H and W, got {filter_size}")
        draw = normal_sampler(seed, rng)
        channels, height, width = input_dim
        self.reg = reg
        self.dtype = np.dtype(dtype)
        self.filter_size = filter_size
        shapes = {
            "W1": (num_filters, channels, filter_size, filter_size),
            "b1": (num_filters,),
            "W2": (num_filters * (height // 2) * (width // 2), hidden_dim),
            "b2": (hidden_dim,),
            "W3": (hidden_dim, num_classes),
            "b3": (num_classes,),
        }
        self.params = {
            name: (weight_scale * draw(shape) if name.startswith("W") else np.zeros(shape)).astype(self.dtype)
            for name, shape in shapes.items()
        }

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores, or loss and gradients, for a minibatch.

        Parameters
        ----------
        X : (N, C, H, W) images; cast to ``dtype``.
        y : (N,) integer labels, or None.

        Returns
        -------
        scores : (N, num_classes) when ``y`` is None; otherwise
        loss : float, data loss plus L2 regularisation, and
        grads : dict like ``params``, the gradient of ``loss`` for each parameter.
        """
        X = X.astype(self.dtype, copy=False)
        p = self.params
        conv_param = {"stride": 1, "pad": (self.filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        pooled, pool_cache = conv_relu_pool_forward(X, p["W1"], p["b1"], conv_param, pool_param)
        hidden, hidden_cache = affine_relu_forward(pooled, p["W2"], p["b2"])
        scores, scores_cache = affine_forward(hidden, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads: dict[str, np.ndarray] = {}
        dhidden, grads["W3"], grads["b3"] = affine_backward(dscores, scores_cache)
        dpooled, grads["W2"], grads["b2"] = affine_relu_backward(dhidden, hidden_cache)
        # The images need no gradient: the conv's backward skips dx, about half of its work.
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dpooled, pool_cache, need_dx=False)
        return add_l2(loss, grads, p, ("W1", "W2", "W3"), self.reg), grads
