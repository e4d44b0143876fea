"""Classic layers as forward/backward pairs, and the losses.

Every ``*_forward`` returns ``(out, cache)`` and the matching ``*_backward(dout, cache)`` returns
the gradients of its inputs. Outputs and gradients keep the dtype of ``x`` (float32 in, float32
out), so nothing here upcasts behind the Solver's back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "affine_backward",
    "affine_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "batchnorm_forward",
    "conv_backward_naive",
    "conv_forward_naive",
    "dropout_backward",
    "dropout_forward",
    "layernorm_backward",
    "layernorm_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "max_pool_backward_naive",
    "max_pool_forward_naive",
    "mse_loss",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_loss",
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
    "spatial_groupnorm_backward",
    "spatial_groupnorm_forward",
    "svm_loss",
    "tanh_backward",
    "tanh_forward",
]

Cache = Any


# --------------------------------------------------------------------------- affine


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Fully connected layer ``out = x.reshape(N, D) @ w + b``.

    Parameters
    ----------
    x : (N, d_1, ..., d_k), flattened to (N, D) with D = d_1 * ... * d_k
    w : (D, M)
    b : (M,)

    Returns
    -------
    out : (N, M)
    cache : (x, w, b)
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_forward`.

    Parameters
    ----------
    dout : (N, M) upstream gradient
    cache : from :func:`affine_forward`

    Returns
    -------
    dx : (N, d_1, ..., d_k), the shape of ``x``
    dw : (D, M)
    db : (M,)
    """
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


# --------------------------------------------------------------------------- activations


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Rectified linear unit ``max(0, x)``; ``x`` of any shape. Cache: ``x``."""
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`relu_forward`; ``dout`` and ``dx`` have the shape of ``x``."""
    return dout * (cache > 0)


def leaky_relu_forward(x: np.ndarray, alpha: float = 0.01) -> tuple[np.ndarray, Cache]:
    """Leaky ReLU: ``x`` where positive, ``alpha * x`` elsewhere; ``x`` of any shape.

    Cache: ``(x, alpha)``.
    """
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`leaky_relu_forward`; ``dx`` has the shape of ``x``."""
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Logistic sigmoid, overflow-free for large ``|x|``; ``x`` of any shape. Cache: ``out``."""
    from scipy.special import expit  # here, not at the top: scipy.special takes ~0.4 s to import

    out = expit(x)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`sigmoid_forward`: ``dout * s * (1 - s)``."""
    return dout * cache * (1 - cache)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Hyperbolic tangent; ``x`` of any shape. Cache: ``out``."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`tanh_forward`: ``dout * (1 - tanh(x)**2)``."""
    return dout * (1 - cache * cache)


# --------------------------------------------------------------------------- dropout


def dropout_forward(x: np.ndarray, dropout_param: dict[str, Any]) -> tuple[np.ndarray, Cache]:
    """Inverted dropout: keep each unit with probability ``p`` and scale it by ``1 / p``.

    Parameters
    ----------
    x : any shape
    dropout_param : dict with keys
        ``mode`` : 'train' or 'test' (test mode returns ``x`` unchanged);
        ``p`` : probability of KEEPING a unit, in (0, 1];
        ``seed`` (optional) : draw the same mask on every call (for gradient checks): the mask
        the classic ``np.random.seed(seed)`` would give, without touching the global state;
        ``rng`` (optional) : a ``np.random.Generator`` to draw fresh masks from.
        Without either, masks come from the global ``np.random`` state, as in the classic code.

    Returns
    -------
    out : the shape and dtype of ``x``
    cache : the scaled mask (shape of ``x``), or None in test mode
    """
    mode = dropout_param["mode"]
    if mode == "test":
        return x, None
    if mode != "train":
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    p = dropout_param["p"]
    if not 0 < p <= 1:
        raise ValueError(f"dropout_param['p'] is the keep probability and must be in (0, 1], got {p}")
    mask = (_uniform(x.shape, dropout_param) < p).astype(x.dtype)
    mask /= p  # in place, so a float64 p cannot upcast a float32 mask
    return x * mask, mask


def dropout_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`dropout_forward`; ``dx`` has the shape of ``dout``."""
    return dout if cache is None else dout * cache


def _uniform(shape: tuple[int, ...], dropout_param: dict[str, Any]) -> np.ndarray:
    """Uniform [0, 1) draws for a dropout mask, from the source ``dropout_param`` selects."""
    if dropout_param.get("seed") is not None:
        return np.random.RandomState(dropout_param["seed"]).random_sample(shape)
    if dropout_param.get("rng") is not None:
        return dropout_param["rng"].random(shape)
    return np.random.random_sample(shape)


# --------------------------------------------------------------------------- normalisation


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, Cache]:
    """Batch normalisation: normalise each feature over the minibatch, then scale and shift.

    In train mode the batch statistics are used and the running statistics are updated in place
    with ``running = momentum * running + (1 - momentum) * batch``; in test mode the running
    statistics are used.

    Parameters
    ----------
    x : (N, D)
    gamma, beta : (D,)
    bn_param : dict with keys ``mode`` ('train' | 'test'), ``eps`` (1e-5), ``momentum`` (0.9),
        ``running_mean`` and ``running_var`` ((D,), created as zeros of x's dtype on first call).

    Returns
    -------
    out : (N, D)
    cache : for :func:`batchnorm_backward` and :func:`batchnorm_backward_alt`
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    running_mean = bn_param.setdefault("running_mean", np.zeros(x.shape[1], dtype=x.dtype))
    running_var = bn_param.setdefault("running_var", np.zeros(x.shape[1], dtype=x.dtype))
    if mode == "train":
        mean, var = x.mean(axis=0), x.var(axis=0)
        running_mean *= momentum
        running_mean += (1 - momentum) * mean
        running_var *= momentum
        running_var += (1 - momentum) * var
    elif mode == "test":
        mean, var = running_mean.copy(), running_var
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    xhat, inv_std = _standardize(x, mean, var, eps)
    return gamma * xhat + beta, (x, mean, inv_std, xhat, gamma, mode == "train")


def batchnorm_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`batchnorm_forward`, node by node through the computational graph.

    Parameters
    ----------
    dout : (N, D)
    cache : from :func:`batchnorm_forward`

    Returns
    -------
    dx : (N, D)
    dgamma, dbeta : (D,)
    """
    x, mean, inv_std, xhat, gamma, batch_stats = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = dxhat * inv_std
    if batch_stats:  # in test mode mean and var are constants: only the direct path remains
        n = x.shape[0]
        centered = x - mean
        dvar = (dxhat * centered).sum(axis=0) * -0.5 * inv_std**3
        dmean = -dxhat.sum(axis=0) * inv_std + dvar * (-2 * centered).mean(axis=0)
        dx += dvar * 2 * centered / n + dmean / n
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`batchnorm_forward` in the simplified closed form.

    ``dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`` with ``dxhat = dout * gamma``.
    Same arguments and results as :func:`batchnorm_backward`.
    """
    _, _, inv_std, xhat, gamma, batch_stats = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = _standardize_backward(dxhat, xhat, inv_std, axis=0) if batch_stats else dxhat * inv_std
    return dx, dgamma, dbeta


def layernorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, ln_param: dict[str, Any]
) -> tuple[np.ndarray, Cache]:
    """Layer normalisation: normalise each sample over its features, then scale and shift.

    Same at train and test time (no running statistics).

    Parameters
    ----------
    x : (N, D)
    gamma, beta : (D,)
    ln_param : dict with optional key ``eps`` (1e-5); other keys are ignored.

    Returns
    -------
    out : (N, D)
    cache : for :func:`layernorm_backward`
    """
    eps = ln_param.get("eps", 1e-5)
    xhat, inv_std = _standardize(x, x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True), eps)
    return gamma * xhat + beta, (xhat, inv_std, gamma)


def layernorm_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`layernorm_forward`.

    Returns
    -------
    dx : (N, D)
    dgamma, dbeta : (D,)
    """
    xhat, inv_std, gamma = cache
    dx = _standardize_backward(dout * gamma, xhat, inv_std, axis=1)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def spatial_batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, Cache]:
    """Batch normalisation per channel, over the minibatch and both spatial axes.

    Parameters
    ----------
    x : (N, C, H, W)
    gamma, beta : (C,)
    bn_param : as for :func:`batchnorm_forward` (running statistics of shape (C,))

    Returns
    -------
    out : (N, C, H, W)
    cache : for :func:`spatial_batchnorm_backward`
    """
    out, cache = batchnorm_forward(_channels_last(x), gamma, beta, bn_param)
    return _channels_first(out, x.shape), cache


def spatial_batchnorm_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`spatial_batchnorm_forward`.

    Returns
    -------
    dx : (N, C, H, W)
    dgamma, dbeta : (C,)
    """
    dx, dgamma, dbeta = batchnorm_backward_alt(_channels_last(dout), cache)
    return _channels_first(dx, dout.shape), dgamma, dbeta


def spatial_groupnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, G: int, gn_param: dict[str, Any]
) -> tuple[np.ndarray, Cache]:
    """Group normalisation: normalise each sample over groups of ``C // G`` consecutive channels.

    Parameters
    ----------
    x : (N, C, H, W)
    gamma, beta : (1, C, 1, 1) as in the classic assignment (any shape holding C values works)
    G : number of groups; must divide C
    gn_param : dict with optional key ``eps`` (1e-5)

    Returns
    -------
    out : (N, C, H, W)
    cache : for :func:`spatial_groupnorm_backward`
    """
    n, c = x.shape[:2]
    if c % G:
        raise ValueError(f"the number of groups G={G} must divide the number of channels C={c}")
    groups = x.reshape(n * G, -1)
    eps = gn_param.get("eps", 1e-5)
    xhat, inv_std = _standardize(groups, groups.mean(axis=1, keepdims=True), groups.var(axis=1, keepdims=True), eps)
    xhat = xhat.reshape(x.shape)
    out = gamma.reshape(1, c, 1, 1) * xhat + beta.reshape(1, c, 1, 1)
    return out, (xhat, inv_std, gamma, G)


def spatial_groupnorm_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`spatial_groupnorm_forward`.

    Returns
    -------
    dx : (N, C, H, W)
    dgamma, dbeta : the shape of ``gamma``, (1, C, 1, 1) in the classic layout
    """
    xhat, inv_std, gamma, G = cache
    n, c = dout.shape[:2]
    dgamma = (dout * xhat).sum(axis=(0, 2, 3)).reshape(gamma.shape)
    dbeta = dout.sum(axis=(0, 2, 3)).reshape(gamma.shape)
    dxhat = (dout * gamma.reshape(1, c, 1, 1)).reshape(n * G, -1)
    dx = _standardize_backward(dxhat, xhat.reshape(n * G, -1), inv_std, axis=1)
    return dx.reshape(dout.shape), dgamma, dbeta


def _standardize(x: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """``(x - mean) / sqrt(var + eps)``; returns ``(xhat, inv_std)``, broadcasting as given."""
    inv_std = 1 / np.sqrt(var + eps)
    return (x - mean) * inv_std, inv_std


def _standardize_backward(dxhat: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray, axis: int) -> np.ndarray:
    """Gradient through ``xhat = (x - mean(x)) * inv_std`` when the statistics are taken along ``axis``."""
    return inv_std * (
        dxhat - dxhat.mean(axis=axis, keepdims=True) - xhat * (dxhat * xhat).mean(axis=axis, keepdims=True)
    )


def _channels_last(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N * H * W, C), one row per pixel."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _channels_first(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_channels_last`: (N * H * W, C) -> ``shape`` = (N, C, H, W)."""
    n, c, h, w = shape
    return rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)


# --------------------------------------------------------------------------- convolution and pooling


def conv_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int]
) -> tuple[np.ndarray, Cache]:
    """Convolution (cross-correlation, as in the classic code) with zero padding; the reference
    implementation the Cython fast path is tested against.

    Parameters
    ----------
    x : (N, C, H, W)
    w : (F, C, HH, WW)
    b : (F,)
    conv_param : dict with keys ``stride`` and ``pad`` (zeros added on every side of H and W)

    Returns
    -------
    out : (N, F, H', W') with ``H' = 1 + (H + 2 * pad - HH) // stride``, likewise W'
    cache : (x, w, b, conv_param)
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, c, h, wid = x.shape
    f, c_w, hh, ww = w.shape
    if c != c_w:
        raise ValueError(f"x has {c} channels but the filters w expect {c_w}")
    out_h, out_w = _out_size(h, hh, pad, stride), _out_size(wid, ww, pad, stride)
    x_pad = _zero_pad(x, pad)
    out = np.empty((n, f, out_h, out_w), dtype=np.result_type(x, w, b))
    for i, j, rows, cols in _windows(out_h, out_w, hh, ww, stride):
        out[:, :, i, j] = np.tensordot(x_pad[:, :, rows, cols], w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward_naive`.

    Parameters
    ----------
    dout : (N, F, H', W')
    cache : from :func:`conv_forward_naive`

    Returns
    -------
    dx : (N, C, H, W)
    dw : (F, C, HH, WW)
    db : (F,)
    """
    x, w, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    h, wid = x.shape[2:]
    x_pad = _zero_pad(x, pad)
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for i, j, rows, cols in _windows(dout.shape[2], dout.shape[3], w.shape[2], w.shape[3], stride):
        dw += np.tensordot(dout[:, :, i, j], x_pad[:, :, rows, cols], axes=(0, 0))
        dx_pad[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], w, axes=(1, 0))
    db = dout.sum(axis=(0, 2, 3))
    return dx_pad[:, :, pad : pad + h, pad : pad + wid], dw, db


def max_pool_forward_naive(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, Cache]:
    """Max pooling, the reference implementation for the fast path.

    Parameters
    ----------
    x : (N, C, H, W)
    pool_param : dict with keys ``pool_height``, ``pool_width`` and ``stride``

    Returns
    -------
    out : (N, C, H', W') with ``H' = 1 + (H - pool_height) // stride``, likewise W'
    cache : (x, pool_param)
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, w = x.shape
    out_h, out_w = _out_size(h, ph, 0, stride), _out_size(w, pw, 0, stride)
    out = np.empty((n, c, out_h, out_w), dtype=x.dtype)
    for i, j, rows, cols in _windows(out_h, out_w, ph, pw, stride):
        out[:, :, i, j] = x[:, :, rows, cols].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`max_pool_forward_naive`.

    Each window's gradient goes to ONE input: its first maximum in row-major window order
    (``np.argmax`` order), so ties (e.g. the zeros after a ReLU) route deterministically.

    Parameters
    ----------
    dout : (N, C, H', W')
    cache : from :func:`max_pool_forward_naive`

    Returns
    -------
    dx : (N, C, H, W)
    """
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c = x.shape[:2]
    dx = np.zeros_like(x, dtype=dout.dtype)
    for i, j, rows, cols in _windows(dout.shape[2], dout.shape[3], ph, pw, stride):
        first_max = x[:, :, rows, cols].reshape(n, c, ph * pw).argmax(axis=2)
        winner = np.arange(ph * pw) == first_max[:, :, None]  # one-hot (N, C, ph * pw)
        dx[:, :, rows, cols] += (winner * dout[:, :, i, j, None]).reshape(n, c, ph, pw)
    return dx


def _out_size(size: int, kernel: int, pad: int, stride: int) -> int:
    """Number of window positions along one axis; raises when the window does not fit."""
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    if size + 2 * pad < kernel:
        raise ValueError(f"window of size {kernel} does not fit an input of size {size} with pad {pad}")
    return 1 + (size + 2 * pad - kernel) // stride


def _zero_pad(x: np.ndarray, pad: int) -> np.ndarray:
    """Zero-pad both spatial axes of ``x: (N, C, H, W)`` by ``pad`` on every side."""
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _windows(
    out_h: int, out_w: int, kernel_h: int, kernel_w: int, stride: int
) -> Iterator[tuple[int, int, slice, slice]]:
    """Yield ``(i, j, rows, cols)``: each output position and the input slices its window reads."""
    for i in range(out_h):
        for j in range(out_w):
            yield i, j, slice(i * stride, i * stride + kernel_h), slice(j * stride, j * stride + kernel_w)


# --------------------------------------------------------------------------- losses


def svm_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Multiclass SVM (hinge) loss with margin 1, averaged over the samples.

    Parameters
    ----------
    x : (N, C) class scores
    y : (N,) integer labels in [0, C)

    Returns
    -------
    loss : float
    dx : (N, C)
    """
    n = x.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    positive = margins > 0
    dx = positive.astype(x.dtype)
    dx[rows, y] -= positive.sum(axis=1)
    dx /= n
    return float(margins.sum()) / n, dx


def softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy loss, averaged over the samples; stable for large scores.

    Parameters
    ----------
    x : (N, C) class scores
    y : (N,) integer labels in [0, C)

    Returns
    -------
    loss : float
    dx : (N, C)
    """
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)  # exp never overflows; softmax is shift-invariant
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= n
    return -float(log_probs[rows, y].sum()) / n, dx


def mse_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error ``mean((x - y) ** 2)``.

    Parameters
    ----------
    x : (N, ...) predictions, e.g. (N, 1)
    y : targets with x's number of elements, e.g. (N,); reshaped to ``x.shape`` and cast to
        ``x.dtype`` so float64 targets do not upcast float32 gradients

    Returns
    -------
    loss : float
    dx : the shape of ``x``
    """
    y = np.asarray(y)
    if y.size != x.size:
        raise ValueError(f"mse_loss: targets of shape {y.shape} do not match predictions of shape {x.shape}")
    diff = x - y.reshape(x.shape).astype(x.dtype, copy=False)
    return float(np.mean(diff * diff)), diff * (2 / diff.size)
