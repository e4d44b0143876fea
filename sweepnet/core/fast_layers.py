"""Fast convolution and max-pooling layers, backed by the Cython cores :mod:`sweepnet.core._fastconv`
and :mod:`sweepnet.core._winograd`.

Same contracts and results as ``conv_*_naive`` / ``max_pool_*_naive`` in :mod:`sweepnet.core.layers`.
A convolution takes one of three paths, chosen per call from its shapes (:func:`auto_conv_path`):

``"im2col"``
    The receptive fields of the whole batch side by side, ``cols: (C*HH*WW, N*H'*W')``, and one
    BLAS GEMM forward; two GEMMs and one col2im backward, reusing the forward's columns.
``"blocked"``
    The same products by blocks of output rows sized to stay in cache (``_block_rows``):
    each block's columns are written, multiplied and (backward) summed back while in cache, and
    the backward pass unfolds them again instead of keeping the whole batch's.
``"winograd"``
    3x3 filters at stride 1: Winograd F(2x2, 3x3) (:mod:`sweepnet.core._winograd`), 16 GEMMs
    over 4x4 input tiles with 16/36 of the im2col GEMM's multiplications, by cache-sized blocks
    of tiles. Its float32 error is within a small factor of the im2col path's (see that module).

float32 inputs stay float32 throughout. The large arrays (columns, GEMM results, ``dx``) live on
memory recycled from earlier calls once nothing refers to it (:mod:`sweepnet.core._workspace`):
fresh pages would cost a page fault each, about as much again as filling them.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any, Literal, overload

import numpy as np

from sweepnet.core._workspace import cache_bytes, reusable

try:
    from sweepnet.core import _fastconv, _winograd
except ImportError as exc:
    raise ImportError(
        "sweepnet.core._fastconv, the compiled Cython core of the fast layers, is not built: "
        "run `pip install -e .` or `python setup.py build_ext --inplace` in the sweepnet checkout"
    ) from exc

__all__ = [
    "CONV_PATHS",
    "POOL_PATHS",
    "auto_conv_path",
    "conv_backward_fast",
    "conv_forward_fast",
    "max_pool_backward_fast",
    "max_pool_forward_fast",
    "use_paths",
]

Cache = Any

CONV_PATHS = ("im2col", "blocked", "winograd")

POOL_PATHS = ("general", "reshape")

_forced_path: contextvars.ContextVar[str | None] = contextvars.ContextVar("sweepnet_conv_path", default=None)
_forced_pool_path: contextvars.ContextVar[str | None] = contextvars.ContextVar("sweepnet_pool_path", default=None)

# Shape rules of auto_conv_path and block sizes, from timings of forward + backward on one thread
# (bench/conv.py's layers and others from 1 to 128 channels, 8x8 to 32x32 images; AMD EPYC Zen 3,
# OpenBLAS 0.3.31 Haswell kernels; see docs/internals.md):
# - Winograd's input transform costs about as much per input channel as its GEMMs save: with
#   3 or 4 input channels im2col was faster, from 8 on Winograd (by 1.1x to 1.8x); with as few
#   as 4 filters it still was.
_WINOGRAD_MIN_CHANNELS = 8
_WINOGRAD_MIN_FILTERS = 4
# - On narrow images a tile row is a few tiles, too short for the transforms' loops: with 8x8
#   outputs (digits, 16 -> 32 channels) float32 Winograd ran 0.98x to 1.02x the speed of im2col,
#   float64 (whose GEMMs cost twice as much) 1.2x. float32 takes it from this output width on.
_WINOGRAD_MIN_WIDTH_FLOAT32 = 16
# - Whole-batch columns up to twice the thread's cache (cache_bytes()) mostly stay in cache from
#   the forward to the backward pass, and keeping them beats unfolding each block again: there
#   the two paths were within 15% of each other either way. With 3.6 to 6 times the cache
#   (60 MB and 105 MB of columns, 16.5 MB of cache) the blocked path won by 1.1x to 1.25x; on
#   ThreeLayerConvNet's 7x7 layer, in three runs of bench/conv.py's timing per dtype on a loaded
#   machine, by 1.19x to 1.64x in float32 and 0.59x to 1.26x in float64 (0.59x when a burst of
#   load hit one backward pass: 529 ms against 195 ms and 410 ms in the other runs).
_IM2COL_MAX_CACHES = 2
# - A block's working set takes this share of the thread's cache: blocks of 1/16 to 1/4 of it ran
#   within a few percent of each other, larger ones fell out of cache between the steps, smaller
#   ones made narrow GEMMs. Winograd's blocks hold more arrays per tile and liked 1/4 to 1/2.
_BLOCKED_CACHE_SHARE = 0.125
_WINOGRAD_CACHE_SHARE = 0.25
# - BLAS runs narrow GEMMs far below its peak, whatever the cache: at least this many columns
#   per im2col block (with 288 rows, 256 columns took 1.4x the time of 1024 to 8192) and tiles
#   per Winograd block (128 tiles took 1.2x the time of 256 to 1024).
_MIN_BLOCK_COLUMNS = 1024
_MIN_BLOCK_TILES = 256


@contextlib.contextmanager
def use_paths(conv: str | None = None, pool: str | None = None) -> Iterator[None]:
    """Make :func:`conv_forward_fast` take the path ``conv`` (one of :data:`CONV_PATHS`) and
    :func:`max_pool_forward_fast` the path ``pool`` (one of :data:`POOL_PATHS`) inside the block,
    in this thread or task only; None leaves that choice automatic.

    For benchmarks and tests. ``conv="im2col", pool="reshape"`` are the only paths of earlier
    versions. A path forced on a layer it cannot compute (``"winograd"`` on anything but 3x3
    stride 1, ``"reshape"`` on windows that do not tile the input) raises ValueError there.
    """
    if conv is not None and conv not in CONV_PATHS:
        raise ValueError(f"unknown conv path {conv!r}; expected one of {', '.join(CONV_PATHS)}")
    if pool is not None and pool not in POOL_PATHS:
        raise ValueError(f"unknown pool path {pool!r}; expected one of {', '.join(POOL_PATHS)}")
    tokens = _forced_path.set(conv), _forced_pool_path.set(pool)
    try:
        yield
    finally:
        _forced_path.reset(tokens[0])
        _forced_pool_path.reset(tokens[1])


def auto_conv_path(
    x_shape: tuple[int, int, int, int],
    w_shape: tuple[int, int, int, int],
    conv_param: dict[str, int],
    dtype: np.dtype | type,
) -> str:
    """The path :func:`conv_forward_fast` takes for these shapes (unless :func:`use_paths` forces one).

    Parameters
    ----------
    x_shape : (N, C, H, W)
    w_shape : (F, C, HH, WW)
    conv_param : dict with keys ``stride`` and ``pad``
    dtype : float32 or float64

    Returns
    -------
    ``"winograd"`` for 3x3 filters at stride 1 with at least ``_WINOGRAD_MIN_CHANNELS`` input
    channels and ``_WINOGRAD_MIN_FILTERS`` filters (and in float32 an output at least
    ``_WINOGRAD_MIN_WIDTH_FLOAT32`` wide); otherwise ``"im2col"`` when the whole batch's columns
    take at most ``_IM2COL_MAX_CACHES`` times the thread's cache, ``"blocked"`` beyond.
    """
    n, c, h, wid = x_shape
    f, _, hh, ww = w_shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    out_h, out_w = _out_size(h, hh, pad, stride), _out_size(wid, ww, pad, stride)
    wide_enough = np.dtype(dtype) == np.float64 or out_w >= _WINOGRAD_MIN_WIDTH_FLOAT32
    if hh == ww == 3 and stride == 1 and c >= _WINOGRAD_MIN_CHANNELS and f >= _WINOGRAD_MIN_FILTERS and wide_enough:
        return "winograd"
    cols_bytes = (c * hh * ww + 1) * n * out_h * out_w * np.dtype(dtype).itemsize
    return "im2col" if cols_bytes <= _IM2COL_MAX_CACHES * cache_bytes() else "blocked"


def conv_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int]
) -> tuple[np.ndarray, Cache]:
    """Convolution (cross-correlation with zero padding) by im2col + GEMM or Winograd (module docstring).

    Parameters
    ----------
    x : (N, C, H, W)
    w : (F, C, HH, WW)
    b : (F,)
    conv_param : dict with keys ``stride`` and ``pad`` (zeros added on every side of H and W)

    Returns
    -------
    out : (N, F, H', W') with ``H' = 1 + (H + 2 * pad - HH) // stride``, likewise W'; a transposed
        view of an ``(F, N, H', W')`` array (not C-contiguous), the GEMMs' natural layout, which
        spares a copy here and in the backward pass of a ``dout`` computed elementwise from it
    cache : ``(path, x, w, b, conv_param, cols)``; ``cols: (C * HH * WW + 1, N * H' * W')``, the
        receptive fields plus a row of ones, on the ``"im2col"`` path only (None otherwise)
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    x, w, b = _as_float_arrays(x, w, b, layout="rows")  # x may be a conv's transposed output
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1] or b.shape != w.shape[:1]:
        raise ValueError(
            f"expected x (N, C, H, W), w (F, C, HH, WW) and b (F,), got {x.shape}, {w.shape} and {b.shape}"
        )
    n, f = x.shape[0], w.shape[0]
    out_h = _out_size(x.shape[2], w.shape[2], pad, stride)
    out_w = _out_size(x.shape[3], w.shape[3], pad, stride)
    path = _forced_path.get() or auto_conv_path(x.shape, w.shape, conv_param, x.dtype)
    out_cols = reusable((f, n * out_h * out_w), x.dtype)  # (F, N*H'*W'): the GEMMs' layout
    out = out_cols.reshape(f, n, out_h, out_w).transpose(1, 0, 2, 3)
    cols = None
    if path == "im2col":
        cols = _columns(x, w.shape, pad, stride)
        np.matmul(_weights_and_bias(w, b), cols, out=out_cols)
    elif path == "blocked":
        w_b = _weights_and_bias(w, b)
        blocks = _BlockColumns(x, w.shape, pad, stride)
        for r0, r1 in blocks.ranges:
            np.matmul(w_b, blocks.columns(r0, r1), out=out_cols[:, r0 * out_w : r1 * out_w])
    else:
        _check_winograd(w.shape, stride)
        _winograd.conv_forward(x, w, b, pad, _winograd_block_rows(x, f, out_w), out)
    return out, (path, x, w, b, conv_param, cols)


@overload
def conv_backward_fast(
    dout: np.ndarray, cache: Cache, *, need_dx: Literal[True] = ...
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def conv_backward_fast(
    dout: np.ndarray, cache: Cache, *, need_dx: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]: ...
def conv_backward_fast(
    dout: np.ndarray, cache: Cache, *, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward_fast`, on the path its forward took.

    Parameters
    ----------
    dout : (N, F, H', W')
    cache : from :func:`conv_forward_fast`
    need_dx : False where nothing uses the input's gradient (a net's first layer: its images
        need none); ``dx`` is then not computed, which spares one of the three products and
        the col2im (or Winograd's input adjoint), about half of the backward pass

    Returns
    -------
    dx : (N, C, H, W), or None with ``need_dx=False``
    dw : (F, C, HH, WW)
    db : (F,)
    """
    path, x, w, _, conv_param, cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    f, _, hh, ww = w.shape
    n, c, height, width = x.shape
    k = w[0].size
    out_shape = (x.shape[0], f, _out_size(x.shape[2], hh, pad, stride), _out_size(x.shape[3], ww, pad, stride))
    dout = np.asarray(dout)
    if dout.shape != out_shape:  # the kernels index dout by the forward's sizes
        raise ValueError(f"expected dout of shape {out_shape}, the forward's output, got {dout.shape}")
    dx = reusable(x.shape, x.dtype) if need_dx else None
    if path == "winograd":
        if dout.dtype != x.dtype or (dout.shape[3] > 1 and dout.strides[3] != dout.itemsize):
            dout = _copy(dout, x.dtype)
        return _winograd.conv_backward(dout, x, w, pad, _winograd_block_rows(x, f, dout.shape[3]), dx)
    dout_cols = dout.transpose(1, 0, 2, 3)  # (F, N, H', W')
    if not (dout_cols.flags.c_contiguous and dout_cols.dtype == x.dtype):  # it is when dout has out's layout
        dout_cols = _copy(dout_cols, x.dtype)
    out_w = out_shape[3]
    dout_cols = dout_cols.reshape(f, -1)  # (F, N*H'*W')
    w_cols = w.reshape(f, k)
    if path == "im2col":
        dw_db = dout_cols @ cols.T  # (F, C*HH*WW + 1): the ones row of cols turns the last column into db
        if dx is not None:
            dcols = np.matmul(w_cols.T, dout_cols, out=reusable((k, dout_cols.shape[1]), x.dtype))
            _fastconv.col2im(dcols, n, c, height, width, hh, ww, pad, stride, out=dx)
    else:
        dw_db = np.zeros((f, k + 1), dtype=x.dtype)
        blocks = _BlockColumns(x, w.shape, pad, stride)
        if dx is not None:
            dx[...] = 0  # the blocks add up in it
            dcols = reusable((k, blocks.width), x.dtype)
        for r0, r1 in blocks.ranges:
            dout_block = dout_cols[:, r0 * out_w : r1 * out_w]
            dw_db += dout_block @ blocks.columns(r0, r1).T
            if dx is not None:
                block_dcols = np.matmul(w_cols.T, dout_block, out=dcols[:, : (r1 - r0) * out_w])
                _fastconv.col2im(block_dcols, n, c, height, width, hh, ww, pad, stride, out=dx, rows=(r0, r1))
    return dx, dw_db[:, :k].reshape(w.shape), dw_db[:, k].copy()


def _weights_and_bias(w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(F, C*HH*WW + 1)``: the flattened filters with the bias as a last column.

    With a last row of ones in the columns the GEMM adds the bias, and the backward dw GEMM
    produces db for free.
    """
    return np.concatenate((w.reshape(w.shape[0], -1), b[:, None]), axis=1)


def _columns(x: np.ndarray, w_shape: tuple[int, ...], pad: int, stride: int) -> np.ndarray:
    """im2col of the whole batch plus a row of ones: ``(C*HH*WW + 1, N*H'*W')``, on reusable memory."""
    k = int(np.prod(w_shape[1:]))
    out_h = _out_size(x.shape[2], w_shape[2], pad, stride)
    out_w = _out_size(x.shape[3], w_shape[3], pad, stride)
    cols = reusable((k + 1, x.shape[0] * out_h * out_w), x.dtype)
    _fastconv.im2col(x, w_shape[2], w_shape[3], pad, stride, out=cols[:k])
    cols[k] = 1
    return cols


class _BlockColumns:
    """The ``"blocked"`` path's blocks of output rows and their columns, one block at a time.

    ``ranges`` are the ``(r0, r1)`` of the blocks (output rows of all images, in order) and
    ``width`` the columns of the largest; ``columns(r0, r1)`` unfolds one, plus a row of ones,
    into a buffer that every block reuses, so the returned ``(C*HH*WW + 1, (r1 - r0) * W')`` view
    is valid until the next call.
    """

    def __init__(self, x: np.ndarray, w_shape: tuple[int, ...], pad: int, stride: int) -> None:
        self._x, self._w_shape, self._pad, self._stride = x, w_shape, pad, stride
        self._k = int(np.prod(w_shape[1:]))
        out_h = _out_size(x.shape[2], w_shape[2], pad, stride)
        self._out_w = _out_size(x.shape[3], w_shape[3], pad, stride)
        rows, step = x.shape[0] * out_h, _block_rows(self._k, w_shape[0], self._out_w, x.dtype)
        self.ranges = [(r0, min(r0 + step, rows)) for r0 in range(0, rows, step)]
        self.width = min(step, rows) * self._out_w
        self._buffer = reusable((self._k + 1, self.width), x.dtype)
        self._buffer[self._k] = 1

    def columns(self, r0: int, r1: int) -> np.ndarray:
        cols = self._buffer[:, : (r1 - r0) * self._out_w]
        _fastconv.im2col(
            self._x, self._w_shape[2], self._w_shape[3], self._pad, self._stride, out=cols[: self._k], rows=(r0, r1)
        )
        return cols


def _block_rows(k: int, f: int, out_w: int, dtype: np.dtype | type) -> int:
    """Output rows per block of the ``"blocked"`` path.

    A block's backward working set is its columns and their gradient (``2 * k + 1`` rows) and
    its slice of ``dout`` (``f`` rows), ``out_w`` columns per output row: as many rows as fit in
    ``_BLOCKED_CACHE_SHARE`` of the thread's cache, but at least ``_MIN_BLOCK_COLUMNS`` columns.
    """
    per_row = (2 * k + 1 + f) * out_w * np.dtype(dtype).itemsize
    budget_rows = int(_BLOCKED_CACHE_SHARE * cache_bytes()) // per_row
    return max(1, budget_rows, -(-_MIN_BLOCK_COLUMNS // out_w))


def _winograd_block_rows(x: np.ndarray, f: int, out_w: int) -> int:
    """Tile rows per block of the ``"winograd"`` path.

    A block's backward working set is 16 transformed values per tile of the input, of its
    gradient (``C`` channels each) and of ``dout`` (``f``): as many tile rows as fit in
    ``_WINOGRAD_CACHE_SHARE`` of the thread's cache, but at least ``_MIN_BLOCK_TILES`` tiles.
    """
    tiles_per_row = (out_w + 1) // 2
    per_row = 16 * (2 * x.shape[1] + f) * x.itemsize * tiles_per_row
    budget_rows = int(_WINOGRAD_CACHE_SHARE * cache_bytes()) // per_row
    return max(1, budget_rows, -(-_MIN_BLOCK_TILES // tiles_per_row))


def _check_winograd(w_shape: tuple[int, ...], stride: int) -> None:
    if w_shape[2:] != (3, 3) or stride != 1:
        raise ValueError(f"the winograd path takes 3x3 filters at stride 1, got {w_shape[2:]} at stride {stride}")


def max_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, Cache]:
    """Max pooling by the Cython kernel (any window, stride and layout of ``x``).

    Parameters
    ----------
    x : (N, C, H, W)
    pool_param : dict with keys ``pool_height``, ``pool_width`` and ``stride``

    Returns
    -------
    out : (N, C, H', W') C-contiguous with ``H' = 1 + (H - pool_height) // stride``, likewise W'
    cache : ``(path, x.shape, pool_param, argmax, axes)``; ``argmax: (N, C, H', W')`` int32 holds
        ``a * pool_width + b`` for each window's first maximum ``(a, b)`` in row-major window
        order (``np.argmax`` order), the one input that receives the window's gradient; ``axes``
        the memory order of ``x``'s axes, which ``dx`` gets too
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    (x,) = _as_float_arrays(x, layout="any")  # a conv's output is transposed
    if x.ndim != 4:
        raise ValueError(f"expected x (N, C, H, W), got shape {x.shape}")
    path = _forced_pool_path.get() or "general"
    # On the path "reshape" (the numpy one of earlier versions, kept for benchmarks) dx is C-contiguous.
    axes = (0, 1, 2, 3) if path == "reshape" else _memory_order(x)
    if path == "reshape":
        h, w = x.shape[2:]
        if not (ph == pw == stride and h % ph == 0 and w % pw == 0):
            raise ValueError(f"the reshape path takes windows that tile the input, got {pool_param} on {(h, w)}")
        out, argmax = _tiled_max_pool(x, ph, pw)
    else:
        out, argmax = _fastconv.max_pool_forward(x, ph, pw, stride)
    return out, (path, x.shape, pool_param, argmax, axes)


def max_pool_backward_fast(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`max_pool_forward_fast`.

    Parameters
    ----------
    dout : (N, C, H', W')
    cache : from :func:`max_pool_forward_fast`

    Returns
    -------
    dx : (N, C, H, W), laid out in memory like the forward's ``x``: an elementwise backward
        (ReLU's) then combines two arrays of one layout, and a conv's backward takes it as is
    """
    _, x_shape, pool_param, argmax, axes = cache
    (dout,) = _as_float_arrays(dout)
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.empty(tuple(x_shape[axis] for axis in axes), dtype=dout.dtype).transpose(np.argsort(axes))
    return _fastconv.max_pool_backward(dout, argmax, x_shape[2], x_shape[3], ph, pw, stride, out=dx)


def _memory_order(x: np.ndarray) -> tuple[int, ...]:
    """The axes of ``x`` from the largest stride to the smallest (ties in axis order)."""
    return tuple(sorted(range(x.ndim), key=lambda axis: -abs(x.strides[axis])))


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


def _as_float_arrays(*arrays: np.ndarray, layout: str = "C") -> tuple[np.ndarray, ...]:
    """The arrays in their common numpy dtype (at least float32; float32 stays float32), copying
    only where needed to give them ``layout``: ``"C"`` (C-contiguous), ``"rows"`` (a contiguous
    last axis, what the conv kernels walk with a pointer) or ``"any"``."""
    arrays = tuple(np.asarray(a) for a in arrays)
    dtype = np.result_type(*arrays, np.float32)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"expected float32 or float64 arrays, got {dtype}")
    arrays = tuple(a.astype(dtype, copy=False) for a in arrays)
    if layout == "C":
        return tuple(np.ascontiguousarray(a) for a in arrays)
    if layout == "rows":
        return tuple(
            a if a.ndim == 0 or a.shape[-1] < 2 or a.strides[-1] == a.itemsize else np.ascontiguousarray(a)
            for a in arrays
        )
    return arrays
