# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels behind :mod:`sweepnet.core.fast_layers`: im2col, col2im and max pooling.

im2col lays every receptive field of a whole batch out as one column, so that a convolution is a
single GEMM ``w.reshape(F, -1) @ cols``::

    cols[(c * HH + kh) * WW + kw, (n * H' + i) * W' + j] = x_pad[n, c, i * s + kh, j * s + kw]

where ``x_pad`` is ``x`` zero-padded by ``pad`` and ``s`` the stride. Neither kernel pads or
copies ``x`` as a whole: each input row goes through a small row buffer that holds its padded
version split into ``s`` phases, ``buf[p % s, p // s] = x_pad_row[p]``. In that layout the
``W'`` inputs read by kernel column ``kw`` (padded positions ``j * s + kw``) are one contiguous
run, so every copy (im2col) and every accumulation (col2im) is a plain vectorisable loop whatever
the stride, and the padding is just zeros left in the buffer. All kernels take float32 and float64
(the ``floating`` fused type) and run without the GIL.
"""

from cython cimport floating

import numpy as np

__all__ = ["col2im", "im2col", "max_pool_backward", "max_pool_forward"]


cdef Py_ssize_t _out_size(
    Py_ssize_t size, Py_ssize_t kernel, Py_ssize_t pad, Py_ssize_t stride,
) except -1:
    """Number of window positions along one axis; raises when the window does not fit."""
    if stride < 1 or pad < 0 or kernel < 1:
        raise ValueError(f"need stride >= 1, pad >= 0 and window >= 1, got {stride}, {pad} and {kernel}")
    if size + 2 * pad < kernel:
        raise ValueError(f"window {kernel} does not fit an input of size {size} with pad {pad}")
    return (size + 2 * pad - kernel) // stride + 1


cdef Py_ssize_t[:, ::1] _phase_plan(
    Py_ssize_t width, Py_ssize_t pad, Py_ssize_t stride, Py_ssize_t phase_len,
):
    """Where each phase of a row goes in the row buffer, worked out once (no divisions in the loops).

    Row ``r`` describes phase ``r``: the first ``w`` with ``(w + pad) % stride == r``, where it
    lands in the buffer, and how many of the ``width`` pixels belong to the phase.
    """
    plan = np.empty((stride, 3), dtype=np.intp)
    cdef Py_ssize_t[:, ::1] p = plan
    cdef Py_ssize_t phase, first
    for phase in range(stride):
        first = (phase - pad % stride + stride) % stride
        p[phase, 0] = first
        p[phase, 1] = phase * phase_len + (first + pad) // stride
        p[phase, 2] = (width - first + stride - 1) // stride
    return p


cdef Py_ssize_t[::1] _kernel_starts(Py_ssize_t kernel_width, Py_ssize_t stride, Py_ssize_t phase_len):
    """Where in the row buffer the run read by each kernel column ``kw`` starts."""
    starts = np.empty(kernel_width, dtype=np.intp)
    cdef Py_ssize_t[::1] k = starts
    cdef Py_ssize_t kw
    for kw in range(kernel_width):
        k[kw] = (kw % stride) * phase_len + kw // stride
    return k


cdef inline void _spread_row(
    const floating* row, floating* buf, const Py_ssize_t[:, ::1] plan, Py_ssize_t stride,
) noexcept nogil:
    """Copy ``row`` into the buffer: padded position ``p = w + pad`` goes to phase ``p % stride``,
    slot ``p // stride``."""
    cdef Py_ssize_t phase, q
    cdef const floating* src
    cdef floating* dst
    for phase in range(stride):
        src = row + plan[phase, 0]
        dst = buf + plan[phase, 1]
        for q in range(plan[phase, 2]):
            dst[q] = src[q * stride]


cdef inline void _gather_row(
    const floating* buf, floating* row, const Py_ssize_t[:, ::1] plan, Py_ssize_t stride,
) noexcept nogil:
    """The inverse of :func:`_spread_row`: read the real (unpadded) positions back into ``row``."""
    cdef Py_ssize_t phase, q
    cdef const floating* src
    cdef floating* dst
    for phase in range(stride):
        src = buf + plan[phase, 1]
        dst = row + plan[phase, 0]
        for q in range(plan[phase, 2]):
            dst[q * stride] = src[q]


def im2col(
    const floating[:, :, :, ::1] x, Py_ssize_t field_height, Py_ssize_t field_width,
    Py_ssize_t pad, Py_ssize_t stride, out=None,
):
    """Unfold every receptive field of the batch into one column.

    Parameters
    ----------
    x : (N, C, H, W) C-contiguous float32 or float64
    field_height, field_width : kernel size HH, WW
    pad : zero padding on every side of H and W
    stride : step between receptive fields
    out : optional C-contiguous (C * HH * WW, N * H' * W') array of the dtype of ``x`` to fill,
        e.g. the first rows of a larger buffer

    Returns
    -------
    cols : (C * HH * WW, N * H' * W'), the dtype of ``x`` (``out`` when given)
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t HH = field_height, WW = field_width
    cdef Py_ssize_t out_h = _out_size(H, HH, pad, stride), out_w = _out_size(W, WW, pad, stride)
    cdef Py_ssize_t block = out_h * out_w  # columns of one image
    cdef Py_ssize_t phase_len = (W + 2 * pad + stride - 1) // stride
    dtype = np.float32 if floating is float else np.float64
    shape = (C * HH * WW, N * block)
    cols_array = np.empty(shape, dtype=dtype) if out is None else out
    if cols_array.shape != shape or cols_array.dtype != dtype:
        raise ValueError(f"out must be a {np.dtype(dtype).name} array of shape {shape}")
    cdef floating[:, ::1] cols = cols_array
    cdef floating[::1] buf = np.zeros(stride * phase_len, dtype=dtype)  # its padding stays zero
    cdef Py_ssize_t[:, ::1] plan = _phase_plan(W, pad, stride, phase_len)
    cdef Py_ssize_t[::1] kw_start = _kernel_starts(WW, stride, phase_len)
    cdef Py_ssize_t c, n, h, kh, kw, i, j
    cdef floating* dst
    cdef const floating* src
    with nogil:
        for c in range(C):
            for n in range(N):
                # Output rows whose window row kh lies in the top or bottom padding read zeros.
                for kh in range(HH):
                    for i in range(out_h):
                        if i * stride + kh < pad or i * stride + kh >= H + pad:
                            for kw in range(WW):
                                dst = &cols[(c * HH + kh) * WW + kw, n * block + i * out_w]
                                for j in range(out_w):
                                    dst[j] = 0
                for h in range(H):
                    _spread_row(&x[n, c, h, 0], &buf[0], plan, stride)
                    # Input row h is window row kh of output row i when h + pad == i * stride + kh.
                    kh = (h + pad) % stride
                    i = (h + pad) // stride
                    while kh < HH and i >= 0:
                        if i < out_h:
                            for kw in range(WW):
                                dst = &cols[(c * HH + kh) * WW + kw, n * block + i * out_w]
                                src = &buf[kw_start[kw]]
                                for j in range(out_w):
                                    dst[j] = src[j]
                        kh += stride
                        i -= 1
    return cols_array


def col2im(
    const floating[:, ::1] cols, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t field_height, Py_ssize_t field_width, Py_ssize_t pad, Py_ssize_t stride, out=None,
):
    """Adjoint of :func:`im2col`: sum every column entry back onto the input pixel it came from.

    Parameters
    ----------
    cols : (C * HH * WW, N * H' * W') C-contiguous float32 or float64
    N, C, H, W : shape of the input ``x`` that ``cols`` was unfolded from
    field_height, field_width, pad, stride : as given to :func:`im2col`
    out : optional C-contiguous (N, C, H, W) array of the dtype of ``cols`` to write ``dx`` into

    Returns
    -------
    dx : (N, C, H, W), the dtype of ``cols`` (``out`` when given); entries that fell on the
        padding are dropped
    """
    cdef Py_ssize_t HH = field_height, WW = field_width
    cdef Py_ssize_t out_h = _out_size(H, HH, pad, stride), out_w = _out_size(W, WW, pad, stride)
    cdef Py_ssize_t block = out_h * out_w
    cdef Py_ssize_t phase_len = (W + 2 * pad + stride - 1) // stride
    if cols.shape[0] != C * HH * WW or cols.shape[1] != N * block:
        raise ValueError(
            f"cols has shape {(cols.shape[0], cols.shape[1])}, expected {(C * HH * WW, N * block)}"
        )
    dtype = np.float32 if floating is float else np.float64
    dx_array = np.empty((N, C, H, W), dtype=dtype) if out is None else out
    if dx_array.shape != (N, C, H, W) or dx_array.dtype != dtype:
        raise ValueError(f"out must be a {np.dtype(dtype).name} array of shape {(N, C, H, W)}")
    cdef floating[:, :, :, ::1] dx = dx_array
    cdef floating[::1] buf = np.empty(stride * phase_len, dtype=dtype)
    cdef Py_ssize_t[:, ::1] plan = _phase_plan(W, pad, stride, phase_len)
    cdef Py_ssize_t[::1] kw_start = _kernel_starts(WW, stride, phase_len)
    cdef Py_ssize_t c, n, h, kh, kw, i, j, first_kh, first_i
    cdef floating* dst
    cdef const floating* src
    with nogil:
        # Each row of dx is summed in the row buffer from all its (kh, kw) contributions and
        # written once, so dx needs no zeroing and is never re-read.
        for c in range(C):
            for n in range(N):
                for h in range(H):
                    for j in range(stride * phase_len):
                        buf[j] = 0
                    first_kh = (h + pad) % stride
                    first_i = (h + pad) // stride
                    # kw outermost: consecutive adds hit the same buffer positions, which the
                    # CPU forwards from its store buffer, instead of overlapping them off by one.
                    for kw in range(WW):
                        dst = &buf[kw_start[kw]]
                        kh, i = first_kh, first_i
                        while kh < HH and i >= 0:
                            if i < out_h:
                                src = &cols[(c * HH + kh) * WW + kw, n * block + i * out_w]
                                for j in range(out_w):
                                    dst[j] += src[j]
                            kh += stride
                            i -= 1
                    _gather_row(&buf[0], &dx[n, c, h, 0], plan, stride)
    return dx_array


def max_pool_forward(
    const floating[:, :, :, ::1] x, Py_ssize_t pool_height, Py_ssize_t pool_width, Py_ssize_t stride,
):
    """Max pooling for any window and stride, remembering where each maximum was.

    Parameters
    ----------
    x : (N, C, H, W) C-contiguous float32 or float64
    pool_height, pool_width : window size
    stride : step between windows

    Returns
    -------
    out : (N, C, H', W') with ``H' = 1 + (H - pool_height) // stride``, the dtype of ``x``
    argmax : (N, C, H', W') int32 (``np.intc``), ``a * pool_width + b`` for the window's FIRST
        maximum ``(a, b)`` in row-major window order (``np.argmax`` order; a NaN counts as the maximum)
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t out_h = _out_size(H, pool_height, 0, stride)
    cdef Py_ssize_t out_w = _out_size(W, pool_width, 0, stride)
    dtype = np.float32 if floating is float else np.float64
    out_array = np.empty((N, C, out_h, out_w), dtype=dtype)
    argmax_array = np.empty((N, C, out_h, out_w), dtype=np.intc)
    cdef floating[:, :, :, ::1] out = out_array
    cdef int[:, :, :, ::1] argmax = argmax_array
    cdef Py_ssize_t n, c, i, j, a, b
    cdef Py_ssize_t t, best_t
    cdef const floating* window
    cdef floating value, best
    with nogil:
        for n in range(N):
            for c in range(C):
                for i in range(out_h):
                    for j in range(out_w):
                        window = &x[n, c, i * stride, j * stride]
                        best, best_t = window[0], 0
                        for a in range(pool_height):
                            for b in range(pool_width):
                                value = window[a * W + b]
                                t = a * pool_width + b
                                # Strictly greater keeps the first maximum; the first NaN wins.
                                if value != value:
                                    if best == best:
                                        best, best_t = value, t
                                else:
                                    # Selects, not branches (value > best is a coin flip): gcc
                                    # turns these into a conditional move and a maxss.
                                    best_t = t if value > best else best_t
                                    best = value if value > best else best
                        out[n, c, i, j] = best
                        argmax[n, c, i, j] = <int>best_t
    return out_array, argmax_array


def max_pool_backward(
    const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] argmax, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t pool_height, Py_ssize_t pool_width, Py_ssize_t stride,
):
    """Route each window's gradient to the one input that was its maximum.

    Parameters
    ----------
    dout : (N, C, H', W') C-contiguous float32 or float64
    argmax : (N, C, H', W') int32, index ``a * pool_width + b`` of each window's maximum, as
        returned by :func:`max_pool_forward`
    H, W : spatial size of the pooled input
    pool_height, pool_width, stride : as given to :func:`max_pool_forward`

    Returns
    -------
    dx : (N, C, H, W), the dtype of ``dout``; overlapping windows add up
    """
    cdef Py_ssize_t N = dout.shape[0], C = dout.shape[1], out_h = dout.shape[2], out_w = dout.shape[3]
    if any(argmax.shape[axis] != dout.shape[axis] for axis in range(4)):
        raise ValueError("dout and argmax must have the same shape (N, C, H', W')")
    if out_h != _out_size(H, pool_height, 0, stride) or out_w != _out_size(W, pool_width, 0, stride):
        raise ValueError(f"dout of size {(out_h, out_w)} does not come from pooling a {(H, W)} input")
    dtype = np.float32 if floating is float else np.float64
    dx_array = np.zeros((N, C, H, W), dtype=dtype)
    cdef floating[:, :, :, ::1] dx = dx_array
    # offset[t]: where window index t lies relative to the window's corner in the (H, W) plane.
    cdef Py_ssize_t[::1] offset = np.array(
        [a * W + b for a in range(pool_height) for b in range(pool_width)], dtype=np.intp
    )
    cdef Py_ssize_t n, c, i, j, corner
    cdef floating* plane
    with nogil:
        for n in range(N):
            for c in range(C):
                plane = &dx[n, c, 0, 0]
                for i in range(out_h):
                    for j in range(out_w):
                        corner = i * stride * W + j * stride
                        plane[corner + offset[argmax[n, c, i, j]]] += dout[n, c, i, j]
    return dx_array
