"""Sandwich layers: common chains of layers as a single forward/backward pair."""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from sweepnet.core.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from sweepnet.core.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
)

__all__ = [
    "affine_bn_relu_backward",
    "affine_bn_relu_forward",
    "affine_ln_relu_backward",
    "affine_ln_relu_forward",
    "affine_norm_relu_backward",
    "affine_norm_relu_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "conv_relu_backward",
    "conv_relu_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
]

Cache = Any

# normalization name -> (forward, backward); batchnorm uses the closed-form backward, the fastest
_NORMS = {
    "batchnorm": (batchnorm_forward, batchnorm_backward_alt),
    "layernorm": (layernorm_forward, layernorm_backward),
}


def affine_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Affine followed by ReLU.

    Parameters
    ----------
    x : (N, d_1, ..., d_k), flattened to (N, D)
    w : (D, M)
    b : (M,)

    Returns
    -------
    out : (N, M)
    cache : for :func:`affine_relu_backward`
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_relu_forward`.

    Returns
    -------
    dx : the shape of ``x``
    dw : (D, M)
    db : (M,)
    """
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def affine_norm_relu_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    norm_param: dict[str, Any],
    normalization: str,
) -> tuple[np.ndarray, Cache]:
    """Affine, then batch or layer normalisation, then ReLU (a hidden layer of FullyConnectedNet).

    Parameters
    ----------
    x : (N, d_1, ..., d_k), flattened to (N, D)
    w : (D, M)
    b : (M,)
    gamma, beta : (M,)
    norm_param : ``bn_param`` or ``ln_param`` of the normalisation (mutated in place by batchnorm)
    normalization : 'batchnorm' or 'layernorm'

    Returns
    -------
    out : (N, M)
    cache : for :func:`affine_norm_relu_backward`
    """
    if normalization not in _NORMS:
        raise ValueError(f"normalization must be one of {sorted(_NORMS)}, got {normalization!r}")
    norm_forward, _ = _NORMS[normalization]
    a, fc_cache = affine_forward(x, w, b)
    a_norm, norm_cache = norm_forward(a, gamma, beta, norm_param)
    out, relu_cache = relu_forward(a_norm)
    return out, (fc_cache, norm_cache, relu_cache, normalization)


def affine_norm_relu_backward(
    dout: np.ndarray, cache: Cache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_norm_relu_forward`.

    Returns
    -------
    dx : the shape of ``x``
    dw : (D, M)
    db, dgamma, dbeta : (M,)
    """
    fc_cache, norm_cache, relu_cache, normalization = cache
    _, norm_backward = _NORMS[normalization]
    da_norm = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = norm_backward(da_norm, norm_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


def affine_bn_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, Cache]:
    """Affine - batchnorm - ReLU; see :func:`affine_norm_relu_forward`. Returns ``(out: (N, M), cache)``."""
    return affine_norm_relu_forward(x, w, b, gamma, beta, bn_param, "batchnorm")


def affine_bn_relu_backward(
    dout: np.ndarray, cache: Cache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_bn_relu_forward`: ``(dx, dw, db, dgamma, dbeta)``."""
    return affine_norm_relu_backward(dout, cache)


def affine_ln_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, gamma: np.ndarray, beta: np.ndarray, ln_param: dict[str, Any]
) -> tuple[np.ndarray, Cache]:
    """Affine - layernorm - ReLU; see :func:`affine_norm_relu_forward`. Returns ``(out: (N, M), cache)``."""
    return affine_norm_relu_forward(x, w, b, gamma, beta, ln_param, "layernorm")


def affine_ln_relu_backward(
    dout: np.ndarray, cache: Cache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_ln_relu_forward`: ``(dx, dw, db, dgamma, dbeta)``."""
    return affine_norm_relu_backward(dout, cache)


def conv_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int]
) -> tuple[np.ndarray, Cache]:
    """Convolution (fast path) followed by ReLU.

    Parameters
    ----------
    x : (N, C, H, W)
    w : (F, C, HH, WW)
    b : (F,)
    conv_param : dict with keys ``stride`` and ``pad``

    Returns
    -------
    out : (N, F, H', W')
    cache : for :func:`conv_relu_backward`
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


@overload
def conv_relu_backward(
    dout: np.ndarray, cache: Cache, *, need_dx: Literal[True] = ...
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def conv_relu_backward(
    dout: np.ndarray, cache: Cache, *, need_dx: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]: ...
def conv_relu_backward(
    dout: np.ndarray, cache: Cache, *, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_relu_forward`; ``need_dx`` as for
    :func:`~sweepnet.core.fast_layers.conv_backward_fast`.

    Returns
    -------
    dx : (N, C, H, W), or None with ``need_dx=False``
    dw : (F, C, HH, WW)
    db : (F,)
    """
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache, need_dx=need_dx)


def conv_relu_pool_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int], pool_param: dict[str, int]
) -> tuple[np.ndarray, Cache]:
    """Convolution, ReLU, then max pooling (fast paths).

    Parameters
    ----------
    x : (N, C, H, W)
    w : (F, C, HH, WW)
    b : (F,)
    conv_param : dict with keys ``stride`` and ``pad``
    pool_param : dict with keys ``pool_height``, ``pool_width`` and ``stride``

    Returns
    -------
    out : (N, F, H'', W''), the pooled size of the convolution output
    cache : for :func:`conv_relu_pool_backward`
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    # ReLU after the pool, on a quarter of the values (for 2x2 windows): ReLU is monotone, so the
    # pool of the ReLU is the ReLU of the pool, and the gradient is the same too. The pool's first
    # maximum of a window is the ReLU's when that maximum is positive; when it is not, every
    # input of the window has a zero ReLU gradient, and so does the pooled value here.
    pooled, pool_cache = max_pool_forward_fast(a, pool_param)
    out, relu_cache = relu_forward(pooled)
    return out, (conv_cache, relu_cache, pool_cache)


@overload
def conv_relu_pool_backward(
    dout: np.ndarray, cache: Cache, *, need_dx: Literal[True] = ...
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def conv_relu_pool_backward(
    dout: np.ndarray, cache: Cache, *, need_dx: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]: ...
def conv_relu_pool_backward(
    dout: np.ndarray, cache: Cache, *, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_relu_pool_forward`; ``need_dx`` as for
    :func:`~sweepnet.core.fast_layers.conv_backward_fast` (False in a net's first layer).

    Returns
    -------
    dx : (N, C, H, W), or None with ``need_dx=False``
    dw : (F, C, HH, WW)
    db : (F,)
    """
    conv_cache, relu_cache, pool_cache = cache
    da = max_pool_backward_fast(relu_backward(dout, relu_cache), pool_cache)
    return conv_backward_fast(da, conv_cache, need_dx=need_dx)
