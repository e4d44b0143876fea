"""``FullyConnectedNet``: any number of hidden layers, optional normalisation and dropout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sweepnet.core.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    mse_loss,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)
from sweepnet.core.models._weights import add_l2, normal_sampler

__all__ = ["FullyConnectedNet"]

_LOSSES = {"softmax": softmax_loss, "svm": svm_loss, "mse": mse_loss}
_NORMS = {
    "batchnorm": (batchnorm_forward, batchnorm_backward_alt),
    "layernorm": (layernorm_forward, layernorm_backward),
}


class FullyConnectedNet:
    """A fully connected network: ``{affine - [norm] - relu - [dropout]} x (L - 1) - affine - loss``.

    Parameters ``W1: (D, H1)``, ``b1: (H1,)``, ..., ``WL: (H_{L-1}, C)``, ``bL: (C,)`` and, with
    normalisation, ``gamma1, beta1: (H1,)`` ... for the hidden layers; all in ``dtype``, as is all
    computation.

    Parameters
    ----------
    hidden_dims : sizes of the hidden layers ``H1 ... H_{L-1}``.
    input_dim : D, the size of one (flattened) input.
    num_classes : C, the number of outputs (1 for a scalar regression).
    dropout_keep_ratio : probability of keeping a hidden unit; 1 disables dropout.
    normalization : None, ``"batchnorm"`` or ``"layernorm"``.
    reg : L2 regularisation strength (weights only).
    weight_scale : standard deviation of the normal initial weights (biases start at zero).
    dtype : dtype of the parameters and of the computation; float64 for gradient checks.
    seed : seeds the weight initialisation and makes dropout draw the same mask on every call
        (classic behaviour, for gradient checks).
    loss : ``"softmax"``, ``"svm"`` or ``"mse"`` (regression: ``loss(X)`` returns predictions).
    rng : generator for the weight initialisation and fresh dropout masks (the training path).
        Give at most one of ``seed`` and ``rng``; with neither the global ``np.random`` is used.
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout_keep_ratio: float = 1,
        normalization: str | None = None,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
        dtype: type | np.dtype = np.float32,
        seed: int | None = None,
        loss: str = "softmax",
        rng: np.random.Generator | None = None,
    ) -> None:
        if normalization is not None and normalization not in _NORMS:
            raise ValueError(f"normalization must be None or one of {sorted(_NORMS)}, got {normalization!r}")
        if loss not in _LOSSES:
            raise ValueError(f"loss must be one of {sorted(_LOSSES)}, got {loss!r}")
        if not 0 < dropout_keep_ratio <= 1:
            raise ValueError(f"dropout_keep_ratio must be in (0, 1], got {dropout_keep_ratio}")
        draw = normal_sampler(seed, rng)
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = np.dtype(dtype)
        self.loss_name = loss
        self.params: dict[str, np.ndarray] = {}
        dims = [input_dim, *hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            fan_in, fan_out = dims[i - 1], dims[i]
            self.params[f"W{i}"] = (weight_scale * draw((fan_in, fan_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=self.dtype)
            if normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(fan_out, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, dtype=self.dtype)

        self.dropout_param: dict[str, Any] = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed
            if rng is not None:
                self.dropout_param["rng"] = rng
        # One dict per hidden layer: batchnorm keeps its running statistics here.
        self.bn_params: list[dict[str, Any]] = []
        if normalization is not None:
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores (or predictions), or loss and gradients, for a minibatch.

        Without ``y`` the network runs in test mode (running batchnorm statistics, no dropout).

        Parameters
        ----------
        X : (N, d_1, ..., d_k) inputs with ``d_1 * ... * d_k == D``; cast to ``dtype``.
        y : (N,) integer labels, (N,) or (N, C) regression targets, or None.

        Returns
        -------
        scores : (N, C) when ``y`` is None; otherwise
        loss : float, data loss plus L2 regularisation, and
        grads : dict like ``params``, the gradient of ``loss`` for each parameter.
        """
        X = X.astype(self.dtype, copy=False)
        mode = "test" if y is None else "train"
        self.dropout_param["mode"] = mode
        for bn_param in self.bn_params:
            bn_param["mode"] = mode

        L, p = self.num_layers, self.params
        hidden, caches = X, []
        for i in range(1, L):
            hidden, affine_cache = affine_forward(hidden, p[f"W{i}"], p[f"b{i}"])
            hidden, cache = self._post_affine_forward(hidden, i)
            caches.append((affine_cache, cache))
        scores, scores_cache = affine_forward(hidden, p[f"W{L}"], p[f"b{L}"])
        if y is None:
            return scores

        loss, dscores = _LOSSES[self.loss_name](scores, y)
        grads: dict[str, np.ndarray] = {}
        dhidden, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, scores_cache)
        for i in range(L - 1, 0, -1):
            affine_cache, cache = caches[i - 1]
            da = self._post_affine_backward(dhidden, cache, i, grads)
            if i > 1:
                dhidden, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(da, affine_cache)
            else:
                # Nothing needs the gradient of X: skipping it saves a third of the FLOPs of a
                # training step when the first layer dominates, as it does for image inputs.
                grads["W1"] = X.reshape(X.shape[0], -1).T @ da
                grads["b1"] = da.sum(axis=0)
        weights = [f"W{i}" for i in range(1, L + 1)]
        return add_l2(loss, grads, p, weights, self.reg), grads

    def _post_affine_forward(self, a: np.ndarray, i: int) -> tuple[np.ndarray, tuple[Any, Any, Any]]:
        """[norm] - relu - [dropout] of hidden layer ``i`` on its affine output ``a: (N, H_i)``.

        Returns ``(out: (N, H_i), cache)``.
        """
        norm_cache = dropout_cache = None
        if self.normalization is not None:
            norm_forward, _ = _NORMS[self.normalization]
            gamma, beta = self.params[f"gamma{i}"], self.params[f"beta{i}"]
            a, norm_cache = norm_forward(a, gamma, beta, self.bn_params[i - 1])
        out, relu_cache = relu_forward(a)
        if self.use_dropout:
            out, dropout_cache = dropout_forward(out, self.dropout_param)
        return out, (norm_cache, relu_cache, dropout_cache)

    def _post_affine_backward(
        self, dout: np.ndarray, cache: tuple[Any, Any, Any], i: int, grads: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Backward pass of :meth:`_post_affine_forward`; ``dout: (N, H_i)``.

        Stores the normalisation gradients in ``grads``; returns the gradient of ``a``, (N, H_i).
        """
        norm_cache, relu_cache, dropout_cache = cache
        if self.use_dropout:
            dout = dropout_backward(dout, dropout_cache)
        da = relu_backward(dout, relu_cache)
        if self.normalization is not None:
            _, norm_backward = _NORMS[self.normalization]
            da, grads[f"gamma{i}"], grads[f"beta{i}"] = norm_backward(da, norm_cache)
        return da
