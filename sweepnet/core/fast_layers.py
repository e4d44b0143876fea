"""Fast convolution and max-pooling layers, backed by the Cython core :mod:`sweepnet.core._fastconv`.

Same contracts and results as ``conv_*_naive`` / ``max_pool_*_naive`` in :mod:`sweepnet.core.layers`.
A convolution is one im2col plus exactly one BLAS GEMM forward, and two GEMMs plus one col2im
backward: the columns of the whole batch sit side by side, ``cols: (C*HH*WW, N*H'*W')``.
float32 inputs stay float32 throughout. The large arrays (columns, GEMM results, ``dx``) live on
memory recycled from earlier calls once nothing refers to it (:mod:`sweepnet.core._workspace`):
fresh pages would cost a page fault each, about as much again as filling them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnet.core._workspace import reusable

try:
    from sweepnet.core import _fastconv
except ImportError as exc:
    raise ImportError(
        "sweepnet.core._fastconv, the compiled Cython core of the fast layers, is not built: "
        "run `pip install -e .` or `python setup.py build_ext --inplace` in the sweepnet checkout"
    ) from exc

__all__ = ["conv_backward_fast", "conv_forward_fast", "max_pool_backward_fast", "max_pool_forward_fast"]

Cache = Any


def conv_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int]
) -> tuple[np.ndarray, Cache]:
    """Convolution (cross-correlation with zero padding) as im2col + one GEMM.

    Parameters
    ----------
    x : (N, C, H, W)
    w : (F, C, HH, WW)
    b : (F,)
    conv_param : dict with keys ``stride`` and ``pad`` (zeros added on every side of H and W)

    Returns
    -------
    out : (N, F, H', W') with ``H' = 1 + (H + 2 * pad - HH) // stride``, likewise W'; a transposed
        view of the GEMM's ``(F, N, H', W')`` result (not C-contiguous), which spares a copy here
        and in the backward pass of a ``dout`` computed elementwise from it
    cache : (x, w, b, conv_param, cols) with ``cols: (C * HH * WW + 1, N * H' * W')``, the
        receptive fields plus a row of ones
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    x, w, b = _as_float_arrays(x, w, b)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1] or b.shape != w.shape[:1]:
        raise ValueError(
            f"expected x (N, C, H, W), w (F, C, HH, WW) and b (F,), "
            f"got {x.shape}, {w.shape} and {b.shape}"
        )
    n, f = x.shape[0], w.shape[0]
    k = w[0].size
    out_h = _out_size(x.shape[2], w.shape[2], pad, stride)
    out_w = _out_size(x.shape[3], w.shape[3], pad, stride)
    # The bias trick: a last row of ones in cols and b as a last column of the weights let the
    # one GEMM add the bias here, and let the backward dw GEMM produce db for free.
    cols = reusable((k + 1, n * out_h * out_w), x.dtype)
    _fastconv.im2col(x, w.shape[2], w.shape[3], pad, stride, out=cols[:k])
    cols[k] = 1
    w_b = np.concatenate((w.reshape(f, k), b[:, None]), axis=1)
    out_cols = np.matmul(w_b, cols, out=reusable((f, cols.shape[1]), x.dtype))  # (F, N*H'*W')
    return out_cols.reshape(f, n, out_h, out_w).transpose(1, 0, 2, 3), (x, w, b, conv_param, cols)


def conv_backward_fast(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward_fast`: two GEMMs and one col2im.

    Parameters
    ----------
    dout : (N, F, H', W')
    cache : from :func:`conv_forward_fast`

    Returns
    -------
    dx : (N, C, H, W)
    dw : (F, C, HH, WW)
    db : (F,)
    """
    x, w, _, conv_param, cols = cache
    f, _, hh, ww = w.shape
    k = w[0].size
    dout_cols = np.asarray(dout).transpose(1, 0, 2, 3)  # (F, N, H', W')
    if not (dout_cols.flags.c_contiguous and dout_cols.dtype == x.dtype):  # it is when dout has out's layout
        dout_cols = _copy(dout_cols, x.dtype)
    dout_cols = dout_cols.reshape(f, -1)  # (F, N*H'*W')
    dw_db = dout_cols @ cols.T  # (F, C*HH*WW + 1): the ones row of cols turns the last column into db
    dw, db = dw_db[:, :k].reshape(w.shape), dw_db[:, k].copy()
    dcols = np.matmul(w.reshape(f, k).T, dout_cols, out=reusable((k, dout_cols.shape[1]), x.dtype))
    dx = reusable(x.shape, x.dtype)
    n, c, height, width = x.shape
    _fastconv.col2im(dcols, n, c, height, width, hh, ww, conv_param["pad"], conv_param["stride"], out=dx)
    return dx, dw, db


def max_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, Cache]:
    """Max pooling: whole-array numpy on a reshaped view when the windows tile the input, the
    Cython kernel otherwise. Both record the same argmax, so one backward serves both.

    Parameters
    ----------
    x : (N, C, H, W)
    pool_param : dict with keys ``pool_height``, ``pool_width`` and ``stride``

    Returns
    -------
    out : (N, C, H', W') with ``H' = 1 + (H - pool_height) // stride``, likewise W'
    cache : ``("reshape" | "general", x.shape, pool_param, argmax)``; ``argmax: (N, C, H', W')``
        int32 holds ``a * pool_width + b`` for each window's first maximum ``(a, b)`` in row-major
        window order (``np.argmax`` order), the one input that receives the window's gradient
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    (x,) = _as_float_arrays(x, contiguous=False)  # the tiled path takes any layout (a conv's output)
    if x.ndim != 4:
        raise ValueError(f"expected x (N, C, H, W), got shape {x.shape}")
    h, w = x.shape[2:]
    if ph == pw == stride and h % ph == 0 and w % pw == 0:
        out, argmax = _tiled_max_pool(x, ph, pw)
        return out, ("reshape", x.shape, pool_param, argmax)
    out, argmax = _fastconv.max_pool_forward(np.ascontiguousarray(x), ph, pw, stride)
    return out, ("general", x.shape, pool_param, argmax)


def max_pool_backward_fast(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`max_pool_forward_fast`.

    Parameters
    ----------
    dout : (N, C, H', W')
    cache : from :func:`max_pool_forward_fast`

    Returns
    -------
    dx : (N, C, H, W)
    """
    _, x_shape, pool_param, argmax = cache
    (dout,) = _as_float_arrays(dout)
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    height, width = x_shape[2:]
    return _fastconv.max_pool_backward(dout, argmax, height, width, ph, pw, stride)


def _tiled_max_pool(x: np.ndarray, ph: int, pw: int) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling of ``x: (N, C, H, W)`` by the ``ph x pw`` tiles that exactly cover it.

    A running maximum over the ``ph * pw`` strided views ``tiles[:, :, :, a, :, b]``, taken in
    row-major window order: a few whole-array passes instead of a loop over windows.

    Returns
    -------
    out, argmax : (N, C, H/ph, W/pw), exactly as :func:`sweepnet.core._fastconv.max_pool_forward`
    """
    n, c, h, w = x.shape
    tiles = x.reshape(n, c, h // ph, ph, w // pw, pw)
    out = tiles[:, :, :, 0, :, 0].copy()
    argmax = np.zeros(out.shape, dtype=np.intc)
    greater = np.empty(out.shape, dtype=bool)
    candidate = np.empty_like(argmax)
    for t in range(1, ph * pw):
        value = tiles[:, :, :, t // pw, :, t % pw]
        np.greater(value, out, out=greater)
        # t grows along the window and only a strictly greater value moves the argmax, so the
        # argmax is a running maximum of the t where that happened: it stays at the FIRST maximum.
        np.maximum(argmax, np.multiply(greater, np.intc(t), out=candidate), out=argmax)
        np.maximum(out, value, out=out)
    nan_windows = np.isnan(out)
    if nan_windows.any():  # as np.argmax does, the first NaN is the maximum
        windows = tiles.transpose(0, 1, 2, 4, 3, 5)[nan_windows].reshape(-1, ph * pw)
        argmax[nan_windows] = np.isnan(windows).argmax(axis=1)
    return out, argmax


def _copy(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A C-contiguous copy of ``array`` in ``dtype``, on reusable memory."""
    copy = reusable(array.shape, dtype)
    np.copyto(copy, array)
    return copy


def _out_size(size: int, kernel: int, pad: int, stride: int) -> int:
    """Number of window positions along one axis; raises when the window does not fit."""
    if stride < 1 or pad < 0 or kernel < 1:
        raise ValueError(f"need stride >= 1, pad >= 0 and window >= 1, got {stride}, {pad} and {kernel}")
    if size + 2 * pad < kernel:
        raise ValueError(f"window {kernel} does not fit an input of size {size} with pad {pad}")
    return (size + 2 * pad - kernel) // stride + 1


def _as_float_arrays(*arrays: np.ndarray, contiguous: bool = True) -> tuple[np.ndarray, ...]:
    """The arrays in their common numpy dtype (at least float32; float32 stays float32), C-contiguous
    unless ``contiguous`` is False, copying only where needed: the Cython kernels take float32 or
    float64 C-contiguous arrays."""
    arrays = tuple(np.asarray(a) for a in arrays)
    dtype = np.result_type(*arrays, np.float32)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"expected float32 or float64 arrays, got {dtype}")
    convert = np.ascontiguousarray if contiguous else np.asarray
    return tuple(convert(a, dtype=dtype) for a in arrays)
