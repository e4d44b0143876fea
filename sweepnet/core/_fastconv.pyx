# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels behind :mod:`sweepnet.core.fast_layers`: im2col, col2im and max pooling.

im2col lays every receptive field of a whole batch (or of a range of its output rows, a block)
out as one column, so that a convolution is a single GEMM ``w.reshape(F, -1) @ cols``::

    cols[(c * HH + kh) * WW + kw, (n * H' + i) * W' + j] = x_pad[n, c, i * s + kh, j * s + kw]

where ``x_pad`` is ``x`` zero-padded by ``pad`` and ``s`` the stride. Neither kernel pads or
copies ``x`` as a whole: each input row goes through a small row buffer that holds its padded
version split into ``s`` phases, ``buf[p % s, p // s] = x_pad_row[p]``. In that layout the
``W'`` inputs read by kernel column ``kw`` (padded positions ``j * s + kw``) are one contiguous
run, so every copy (im2col) and every accumulation (col2im) is a plain vectorisable loop whatever
the stride, and the padding is just zeros left in the buffer. All kernels take float32 and float64
(the ``floating`` fused type) and run without the GIL; im2col and col2im walk rows (the last axis)
with a pointer, so those must be contiguous, and pooling takes any strides.
"""

from cython cimport floating

from sweepnet.core._kernels cimport check_rows, double_ptr, float_ptr, real_ptr

import numpy as np

__all__ = ["col2im", "im2col", "max_pool_backward", "max_pool_forward"]


cdef inline void _copy_restrict(real_ptr dst, real_ptr src, Py_ssize_t n, bint add) noexcept nogil:
    cdef Py_ssize_t j
    if add:
        for j in range(n):
            dst[j] += src[j]
    else:
        for j in range(n):
            dst[j] = src[j]


cdef inline void _copy(floating* dst, const floating* src, Py_ssize_t n, bint add) noexcept nogil:
    """``dst[:n] = src[:n]``, or ``+=`` with ``add``; the two do not overlap."""
    if floating is float:
        _copy_restrict(<float_ptr>dst, <float_ptr>src, n, add)
    else:
        _copy_restrict(<double_ptr>dst, <double_ptr>src, n, add)


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
    if stride == 1:  # one phase: the padded row
        _copy(buf + plan[0, 1], row, plan[0, 2], False)
        return
    for phase in range(stride):
        src = row + plan[phase, 0]
        dst = buf + plan[phase, 1]
        for q in range(plan[phase, 2]):
            dst[q] = src[q * stride]


cdef inline void _gather_row(
    const floating* buf, floating* row, const Py_ssize_t[:, ::1] plan, Py_ssize_t stride, bint add,
) noexcept nogil:
    """The inverse of :func:`_spread_row`: the real (unpadded) positions back into ``row``,
    written or, with ``add``, added."""
    cdef Py_ssize_t phase, q
    cdef const floating* src
    cdef floating* dst
    if stride == 1:
        _copy(row, buf + plan[0, 1], plan[0, 2], add)
        return
    for phase in range(stride):
        src = buf + plan[phase, 1]
        dst = row + plan[phase, 0]
        if add:
            for q in range(plan[phase, 2]):
                dst[q * stride] += src[q]
        else:
            for q in range(plan[phase, 2]):
                dst[q * stride] = src[q]


def _row_range(rows, Py_ssize_t total):
    """``rows`` as a checked ``(r0, r1)`` within ``[0, total]``; all rows when None."""
    if rows is None:
        return 0, total
    r0, r1 = rows
    if not 0 <= r0 < r1 <= total:
        raise ValueError(f"rows must satisfy 0 <= r0 < r1 <= {total}, got {rows}")
    return r0, r1


def im2col(
    const floating[:, :, :, :] x, Py_ssize_t field_height, Py_ssize_t field_width,
    Py_ssize_t pad, Py_ssize_t stride, out=None, rows=None,
):
    """Unfold every receptive field of the batch, or of a range of output rows, into columns.

    Parameters
    ----------
    x : (N, C, H, W) float32 or float64 with a contiguous last axis (any other strides)
    field_height, field_width : kernel size HH, WW
    pad : zero padding on every side of H and W
    stride : step between receptive fields
    out : optional (C * HH * WW, R * W') array of the dtype of ``x`` with a contiguous last axis
        to fill, e.g. the first rows of a larger buffer
    rows : optional ``(r0, r1)``: unfold only the output rows ``r0 <= r < r1``, counting the
        ``N * H'`` rows of all images in order (row ``r`` is row ``r % H'`` of image ``r // H'``);
        by default all of them

    Returns
    -------
    cols : (C * HH * WW, R * W') with ``R = r1 - r0`` (``N * H'`` by default), the dtype of ``x``
        (``out`` when given); column ``(r - r0) * W' + j`` is the receptive field of output
        ``(r, j)``
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t HH = field_height, WW = field_width
    cdef Py_ssize_t out_h = _out_size(H, HH, pad, stride), out_w = _out_size(W, WW, pad, stride)
    cdef Py_ssize_t r0, r1
    r0, r1 = _row_range(rows, N * out_h)
    cdef Py_ssize_t phase_len = (W + 2 * pad + stride - 1) // stride
    check_rows(x.strides[3], sizeof(floating), W, "x")
    dtype = np.float32 if floating is float else np.float64
    shape = (C * HH * WW, (r1 - r0) * out_w)
    cols_array = np.empty(shape, dtype=dtype) if out is None else out
    if cols_array.shape != shape or cols_array.dtype != dtype:
        raise ValueError(f"out must be a {np.dtype(dtype).name} array of shape {shape}")
    cdef floating[:, :] cols = cols_array
    check_rows(cols.strides[1], sizeof(floating), shape[1], "out")
    cdef floating[::1] buf = np.zeros(stride * phase_len, dtype=dtype)  # its padding stays zero
    cdef Py_ssize_t[:, ::1] plan = _phase_plan(W, pad, stride, phase_len)
    cdef Py_ssize_t[::1] kw_start = _kernel_starts(WW, stride, phase_len)
    cdef Py_ssize_t c, n, h, kh, kw, i, j, i_lo, i_hi, first
    cdef floating* dst
    with nogil:
        for c in range(C):
            for n in range(r0 // out_h, (r1 + out_h - 1) // out_h):
                # Output rows i_lo <= i < i_hi of image n are in the range; column of (i, j):
                i_lo, i_hi = max(r0 - n * out_h, 0), min(r1 - n * out_h, out_h)
                first = (n * out_h - r0) * out_w
                # Output rows whose window row kh lies in the top or bottom padding read zeros.
                for kh in range(HH):
                    for i in range(i_lo, i_hi):
                        if i * stride + kh < pad or i * stride + kh >= H + pad:
                            for kw in range(WW):
                                dst = &cols[(c * HH + kh) * WW + kw, first + i * out_w]
                                for j in range(out_w):
                                    dst[j] = 0
                for h in range(max(i_lo * stride - pad, 0), min((i_hi - 1) * stride - pad + HH, H)):
                    _spread_row(&x[n, c, h, 0], &buf[0], plan, stride)
                    # Input row h is window row kh of output row i when h + pad == i * stride + kh.
                    kh = (h + pad) % stride
                    i = (h + pad) // stride
                    while kh < HH and i >= i_lo:
                        if i < i_hi:
                            for kw in range(WW):
                                _copy(&cols[(c * HH + kh) * WW + kw, first + i * out_w], &buf[kw_start[kw]],
                                      out_w, False)
                        kh += stride
                        i -= 1
    return cols_array


def col2im(
    const floating[:, :] cols, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t field_height, Py_ssize_t field_width, Py_ssize_t pad, Py_ssize_t stride, out=None,
    rows=None,
):
    """Adjoint of :func:`im2col`: sum every column entry back onto the input pixel it came from.

    Parameters
    ----------
    cols : (C * HH * WW, R * W') float32 or float64 with a contiguous last axis
    N, C, H, W : shape of the input ``x`` that ``cols`` was unfolded from
    field_height, field_width, pad, stride : as given to :func:`im2col`
    out : optional (N, C, H, W) array of the dtype of ``cols`` with a contiguous last axis to
        write ``dx`` into
    rows : optional ``(r0, r1)`` as given to :func:`im2col`: ``cols`` holds only those output
        rows, and their contributions are *added* to ``out`` (required then), so that the
        blocks of a batch add up in it

    Returns
    -------
    dx : (N, C, H, W), the dtype of ``cols`` (``out`` when given); entries that fell on the
        padding are dropped
    """
    cdef Py_ssize_t HH = field_height, WW = field_width
    cdef Py_ssize_t out_h = _out_size(H, HH, pad, stride), out_w = _out_size(W, WW, pad, stride)
    cdef Py_ssize_t r0, r1
    r0, r1 = _row_range(rows, N * out_h)
    cdef bint accumulate = rows is not None
    cdef Py_ssize_t phase_len = (W + 2 * pad + stride - 1) // stride
    if cols.shape[0] != C * HH * WW or cols.shape[1] != (r1 - r0) * out_w:
        raise ValueError(
            f"cols has shape {(cols.shape[0], cols.shape[1])}, expected {(C * HH * WW, (r1 - r0) * out_w)}"
        )
    check_rows(cols.strides[1], sizeof(floating), cols.shape[1], "cols")
    if accumulate and out is None:
        raise ValueError("col2im of a range of rows adds to out: pass out")
    dtype = np.float32 if floating is float else np.float64
    dx_array = np.empty((N, C, H, W), dtype=dtype) if out is None else out
    if dx_array.shape != (N, C, H, W) or dx_array.dtype != dtype:
        raise ValueError(f"out must be a {np.dtype(dtype).name} array of shape {(N, C, H, W)}")
    cdef floating[:, :, :, :] dx = dx_array
    check_rows(dx.strides[3], sizeof(floating), W, "out")
    cdef floating[::1] buf = np.empty(stride * phase_len, dtype=dtype)
    cdef Py_ssize_t[:, ::1] plan = _phase_plan(W, pad, stride, phase_len)
    cdef Py_ssize_t[::1] kw_start = _kernel_starts(WW, stride, phase_len)
    cdef Py_ssize_t c, n, h, kh, kw, i, j, first_kh, first_i, i_lo, i_hi, first, h_lo, h_hi
    cdef floating* dst
    with nogil:
        # Each row of dx is summed in the row buffer from all its (kh, kw) contributions and
        # written once (added to once, for a range of rows), so dx needs no zeroing.
        for c in range(C):
            for n in range(r0 // out_h, (r1 + out_h - 1) // out_h):
                i_lo, i_hi = max(r0 - n * out_h, 0), min(r1 - n * out_h, out_h)
                first = (n * out_h - r0) * out_w
                # Rows that no output row of the range reads: zeros, unless adding.
                h_lo = 0 if not accumulate else max(i_lo * stride - pad, 0)
                h_hi = H if not accumulate else min((i_hi - 1) * stride - pad + HH, H)
                for h in range(h_lo, h_hi):
                    for j in range(stride * phase_len):
                        buf[j] = 0
                    first_kh = (h + pad) % stride
                    first_i = (h + pad) // stride
                    # kw outermost: consecutive adds hit the same buffer positions, which the
                    # CPU forwards from its store buffer, instead of overlapping them off by one.
                    for kw in range(WW):
                        dst = &buf[kw_start[kw]]
                        kh, i = first_kh, first_i
                        while kh < HH and i >= i_lo:
                            if i < i_hi:
                                _copy(dst, &cols[(c * HH + kh) * WW + kw, first + i * out_w], out_w, True)
                            kh += stride
                            i -= 1
                    _gather_row(&buf[0], &dx[n, c, h, 0], plan, stride, accumulate)
    return dx_array


cdef inline floating _select(bint take, floating a, floating b) noexcept nogil:
    return a if take else b


cdef inline int _select_int(bint take, int a, int b) noexcept nogil:
    return a if take else b


cdef inline void _pool_row(
    const floating* corner, Py_ssize_t row_step, Py_ssize_t col_step, Py_ssize_t pool_height,
    Py_ssize_t pool_width, Py_ssize_t stride, Py_ssize_t out_w, floating* best, int* best_t,
) noexcept nogil:
    """Maxima and their window index over the ``out_w`` windows of one row of windows.

    ``corner`` is the first window's top-left input; inputs ``row_step`` / ``col_step`` elements
    apart down / across. The windows advance together through the window in row-major order, so
    each pass is one loop over the row (vectorised when ``col_step`` is a constant 1).
    """
    cdef Py_ssize_t j, a, b
    cdef int t
    cdef const floating* src
    cdef floating value
    cdef bint take
    for j in range(out_w):
        best[j] = corner[j * stride * col_step]
        best_t[j] = 0
    for a in range(pool_height):
        for b in range(pool_width):
            t = <int>(a * pool_width + b)
            if t == 0:
                continue
            src = corner + a * row_step + b * col_step
            for j in range(out_w):
                value = src[j * stride * col_step]
                # Strictly greater keeps the first maximum; the first NaN wins and stays. Selects,
                # not branches (value > best is a coin flip).
                take = (value > best[j]) | ((value != value) & (best[j] == best[j]))
                best_t[j] = _select_int(take, t, best_t[j])
                best[j] = _select(take, value, best[j])


def max_pool_forward(
    const floating[:, :, :, :] x, Py_ssize_t pool_height, Py_ssize_t pool_width, Py_ssize_t stride,
):
    """Max pooling for any window and stride, remembering where each maximum was.

    Parameters
    ----------
    x : (N, C, H, W) float32 or float64, any strides
    pool_height, pool_width : window size
    stride : step between windows

    Returns
    -------
    out : (N, C, H', W') C-contiguous with ``H' = 1 + (H - pool_height) // stride``, the dtype of ``x``
    argmax : (N, C, H', W') int32 (``np.intc``), ``a * pool_width + b`` for the window's FIRST
        maximum ``(a, b)`` in row-major window order (``np.argmax`` order; a NaN counts as the maximum)
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t out_h = _out_size(H, pool_height, 0, stride)
    cdef Py_ssize_t out_w = _out_size(W, pool_width, 0, stride)
    cdef Py_ssize_t row_step = x.strides[2] // sizeof(floating), col_step = x.strides[3] // sizeof(floating)
    dtype = np.float32 if floating is float else np.float64
    out_array = np.empty((N, C, out_h, out_w), dtype=dtype)
    argmax_array = np.empty((N, C, out_h, out_w), dtype=np.intc)
    cdef floating[:, :, :, ::1] out = out_array
    cdef int[:, :, :, ::1] argmax = argmax_array
    cdef Py_ssize_t n, c, i
    with nogil:
        for n in range(N):
            for c in range(C):
                for i in range(out_h):
                    if col_step == 1:  # the common case, as a constant: a vectorisable loop
                        _pool_row(&x[n, c, i * stride, 0], row_step, 1, pool_height, pool_width, stride,
                                  out_w, &out[n, c, i, 0], &argmax[n, c, i, 0])
                    else:
                        _pool_row(&x[n, c, i * stride, 0], row_step, col_step, pool_height, pool_width, stride,
                                  out_w, &out[n, c, i, 0], &argmax[n, c, i, 0])
    return out_array, argmax_array


def max_pool_backward(
    const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] argmax, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t pool_height, Py_ssize_t pool_width, Py_ssize_t stride, out=None,
):
    """Route each window's gradient to the one input that was its maximum.

    Parameters
    ----------
    dout : (N, C, H', W') C-contiguous float32 or float64
    argmax : (N, C, H', W') int32, index ``a * pool_width + b`` of each window's maximum, as
        returned by :func:`max_pool_forward`
    H, W : spatial size of the pooled input
    pool_height, pool_width, stride : as given to :func:`max_pool_forward`
    out : optional (N, C, H, W) array of the dtype of ``dout``, any strides, to write ``dx`` into

    Returns
    -------
    dx : (N, C, H, W), the dtype of ``dout`` (``out`` when given); overlapping windows add up
    """
    cdef Py_ssize_t N = dout.shape[0], C = dout.shape[1], out_h = dout.shape[2], out_w = dout.shape[3]
    if any(argmax.shape[axis] != dout.shape[axis] for axis in range(4)):
        raise ValueError("dout and argmax must have the same shape (N, C, H', W')")
    if out_h != _out_size(H, pool_height, 0, stride) or out_w != _out_size(W, pool_width, 0, stride):
        raise ValueError(f"dout of size {(out_h, out_w)} does not come from pooling a {(H, W)} input")
    dtype = np.float32 if floating is float else np.float64
    dx_array = np.zeros((N, C, H, W), dtype=dtype) if out is None else out
    if dx_array.shape != (N, C, H, W) or dx_array.dtype != dtype:
        raise ValueError(f"out must be a {np.dtype(dtype).name} array of shape {(N, C, H, W)}")
    if out is not None:
        dx_array[...] = 0
    cdef floating[:, :, :, :] dx = dx_array
    cdef Py_ssize_t row_step = dx.strides[2] // sizeof(floating), col_step = dx.strides[3] // sizeof(floating)
    # offset[t]: where window index t lies relative to the window's corner in dx.
    cdef Py_ssize_t[::1] offset = np.array(
        [a * row_step + b * col_step for a in range(pool_height) for b in range(pool_width)], dtype=np.intp
    )
    cdef Py_ssize_t n, c, i, j
    cdef floating* corner
    with nogil:
        for n in range(N):
            for c in range(C):
                for i in range(out_h):
                    corner = &dx[n, c, i * stride, 0]
                    for j in range(out_w):
                        corner[j * stride * col_step + offset[argmax[n, c, i, j]]] += dout[n, c, i, j]
    return dx_array
