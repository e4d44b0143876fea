# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Winograd F(2x2, 3x3) convolution for 3x3 filters at stride 1, forward and both backward products.

A 3x3 convolution computes each 2x2 tile of the output from a 4x4 tile of the padded input ``d``
(tiles overlap by two rows and columns) with 16 multiplications per (filter, channel) pair instead
of 36 (Lavin and Gray, "Fast algorithms for convolutional neural networks", 2016)::

    Y = A^T [ sum_c (G g_fc G^T) * (B^T d_c B) ] A           (* elementwise, 4x4)

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

For each of the 16 positions ``xi`` of the 4x4 tile the channel sum is one GEMM over all tiles,
``M[xi] (F, P) = U[xi] (F, C) @ V[xi] (C, P)``: 16 GEMMs with 16/36 of the multiplications of the
im2col GEMM. The backward pass is the exact adjoint of this forward (so it is the gradient of what
the forward computed): ``dM = A dY A^T`` per output tile, ``dU[xi] = dM[xi] @ V[xi]^T`` (then
``dw = G^T dU G``) and ``dV[xi] = U[xi]^T @ dM[xi]``, whose ``B dV B^T`` tiles add up into ``dx``.

The entries of ``A``, ``B`` and ``G`` are 0, +-1 and +-1/2, exact in binary, so the transforms
only regroup the sums: in float64 every value agrees with the direct convolution to a relative
1e-13 or better (the tests' bound is 1e-9, as for the other paths). In float32 the error against
float64, ``||float32 - float64|| / ||float64||`` of out, dx, dw and db, was 1e-7 to 5e-7 on layers
of 8 to 128 channels, within about 2x of the float32 im2col path's: printed per layer by
``bench/conv.py`` and bounded at 1e-6 in ``tests/core/test_winograd.py``.

The kernels work on blocks of *tile rows*: tile row ``r`` is row ``r % TH`` of the
``TH x TW = ceil(H'/2) x ceil(W'/2)`` output tiles of image ``r // TH``, and a block ``[r0, r1)``
holds its ``P = (r1 - r0) * TW`` tiles in that order, so a block's transformed tiles stay in cache
between the transform and its GEMMs. Output tiles past ``H'`` or ``W'`` (odd sizes) read zeros
and are not written. Rows are handled as their even and odd columns apart (``e[k] = row[2k]``,
``o[k] = row[2k + 1]``): tile ``tj`` then reads ``e[tj], o[tj], e[tj + 1], o[tj + 1]`` and every
loop over the tiles of a row is a plain vectorisable loop. All kernels take float32 and float64
(the ``floating`` fused type), any strides but a contiguous last axis, and run without the GIL.
"""

from cython cimport floating

from sweepnet.core._kernels cimport check_rows, double_ptr, float_ptr, real_ptr

import numpy as np

from sweepnet.core._workspace import reusable

__all__ = ["conv_backward", "conv_forward", "tile_grid"]

# The transform matrices, for the filter transforms done in numpy.
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def tile_grid(Py_ssize_t height, Py_ssize_t width, Py_ssize_t pad):
    """Output size and tile grid of a 3x3 stride-1 convolution.

    Returns
    -------
    (H', W', TH, TW) with ``H' = H + 2 * pad - 2`` and ``TH = ceil(H' / 2)``, likewise W'
    """
    if pad < 0:
        raise ValueError(f"need pad >= 0, got {pad}")
    cdef Py_ssize_t out_h = height + 2 * pad - 2, out_w = width + 2 * pad - 2
    if out_h < 1 or out_w < 1:
        raise ValueError(f"window 3 does not fit an input of size {(height, width)} with pad {pad}")
    return out_h, out_w, (out_h + 1) // 2, (out_w + 1) // 2


# The kernels work on restrict pointers (real_ptr, from _kernels.pxd) and cannot name the
# element type, so they declare no scalar of it: every value stays float32 in float32 (a C double
# in between would promote every sum).


cdef int _image_strides(
    Py_ssize_t* byte_strides, Py_ssize_t width, Py_ssize_t itemsize, str name, Py_ssize_t* strides,
) except -1:
    """The element strides of the first three axes of an (N, C, H, W) array with contiguous rows."""
    cdef Py_ssize_t axis
    check_rows(byte_strides[3], itemsize, width, name)
    for axis in range(3):
        strides[axis] = byte_strides[axis] // itemsize
    return 0


cdef int _check_block(
    Py_ssize_t* shape, Py_ssize_t* byte_strides, Py_ssize_t itemsize, Py_ssize_t channels,
    Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t rows, Py_ssize_t TW, str name,
) except -1:
    """Tile rows ``[r0, r1)`` within the ``rows`` of the batch, and a block buffer of shape
    ``(16, channels, >= P)`` with contiguous rows for their ``P = (r1 - r0) * TW`` tiles: the
    kernels write or read all of it through pointers."""
    if not 0 <= r0 <= r1 <= rows:
        raise ValueError(f"tile rows must satisfy 0 <= r0 <= r1 <= {rows}, got {(r0, r1)}")
    if shape[0] != 16 or shape[1] != channels or shape[2] < (r1 - r0) * TW:
        raise ValueError(
            f"{name} must have shape (16, {channels}, >= {(r1 - r0) * TW}), got {(shape[0], shape[1], shape[2])}"
        )
    check_rows(byte_strides[2], itemsize, shape[2], name)
    return 0


cdef tuple _input_grid(
    Py_ssize_t* shape, Py_ssize_t* byte_strides, Py_ssize_t pad, Py_ssize_t itemsize, str name, Py_ssize_t* strides,
):
    """``(TH, TW)`` of an (N, C, H, W) input padded by ``pad``; its element strides into ``strides``."""
    _, _, TH, TW = tile_grid(shape[2], shape[3], pad)
    _image_strides(byte_strides, shape[3], itemsize, name, strides)
    return TH, TW


cdef inline real_ptr _row(real_ptr image, Py_ssize_t* strides, Py_ssize_t r, Py_ssize_t TH, Py_ssize_t channel,
                          Py_ssize_t offset) noexcept nogil:
    """Row ``2 * (r % TH) + offset`` of channel ``channel`` of image ``r // TH``: the first
    (``offset`` 0) output row of tile row ``r``, or an input row it reads."""
    cdef Py_ssize_t n = r // TH
    return image + n * strides[0] + channel * strides[1] + (2 * (r - n * TH) + offset) * strides[2]


cdef inline void _split_row(
    real_ptr row, Py_ssize_t width, Py_ssize_t pad, real_ptr even, real_ptr odd, Py_ssize_t length,
) noexcept nogil:
    """The zero-padded row in even and odd halves: ``even[k] = row[2k - pad]``,
    ``odd[k] = row[2k + 1 - pad]`` for ``k < length``, zero outside the row."""
    cdef Py_ssize_t k, i
    cdef Py_ssize_t lo = min((pad + 1) // 2, length), hi = max(lo, min((width + pad) // 2, length))
    for k in range(lo, hi):  # both inside the row
        even[k] = row[2 * k - pad]
        odd[k] = row[2 * k + 1 - pad]
    for k in range(lo):
        i = 2 * k - pad
        even[k] = row[i] if 0 <= i < width else 0
        odd[k] = row[i + 1] if 0 <= i + 1 < width else 0
    for k in range(hi, length):
        i = 2 * k - pad
        even[k] = row[i] if 0 <= i < width else 0
        odd[k] = row[i + 1] if 0 <= i + 1 < width else 0


# ---------------------------------------------------------------- row kernels
# Each is one loop over the tiles of a tile row, with a few arrays in and out. Their
# coefficients are 0 and +-1, so the products are exact.

cdef inline void _bt_tile_row(
    real_ptr ae, real_ptr ao, real_ptr be, real_ptr bo, bint subtract,
    real_ptr v0, real_ptr v1, real_ptr v2, real_ptr v3, Py_ssize_t tiles,
) noexcept nogil:
    """A row ``t = a + b`` (or ``a - b``) of ``B^T d`` (rows of ``d`` in even and odd halves),
    then ``t B`` across: positions ``v0..v3`` of each tile are ``t[0] - t[2], t[1] + t[2],
    t[2] - t[1], t[1] - t[3]``, where tile ``k`` has the columns ``e[k], o[k], e[k + 1], o[k + 1]``.
    ``subtract`` is a constant at every call, so each inlined copy has one of the two loops."""
    cdef Py_ssize_t k
    if subtract:
        for k in range(tiles):
            v0[k] = (ae[k] - be[k]) - (ae[k + 1] - be[k + 1])
            v1[k] = (ao[k] - bo[k]) + (ae[k + 1] - be[k + 1])
            v2[k] = (ae[k + 1] - be[k + 1]) - (ao[k] - bo[k])
            v3[k] = (ao[k] - bo[k]) - (ao[k + 1] - bo[k + 1])
    else:
        for k in range(tiles):
            v0[k] = (ae[k] + be[k]) - (ae[k + 1] + be[k + 1])
            v1[k] = (ao[k] + bo[k]) + (ae[k + 1] + be[k + 1])
            v2[k] = (ae[k + 1] + be[k + 1]) - (ao[k] + bo[k])
            v3[k] = (ao[k] + bo[k]) - (ao[k + 1] + bo[k + 1])


cdef inline void _at_tile_row(
    real_ptr m, Py_ssize_t step, real_ptr bias,
    real_ptr y0e, real_ptr y0o, real_ptr y1e, real_ptr y1o, Py_ssize_t tiles,
) noexcept nogil:
    """``A^T M A + b`` for each tile: down the rows ``s_j = m_j + m_{4+j} + m_{8+j}`` (output row
    0) and ``m_{4+j} - m_{8+j} - m_{12+j}`` (row 1), across ``s_0 + s_1 + s_2`` (even columns)
    and ``s_1 - s_2 - s_3`` (odd). ``m[xi * step + k]`` is position ``xi`` of tile ``k``."""
    cdef Py_ssize_t k
    cdef real_ptr m0 = m
    cdef real_ptr m1 = m + 4 * step
    cdef real_ptr m2 = m + 8 * step
    cdef real_ptr m3 = m + 12 * step
    for k in range(tiles):
        y0e[k] = ((m0[k] + m1[k] + m2[k]) + (m0[step + k] + m1[step + k] + m2[step + k])
                  + (m0[2 * step + k] + m1[2 * step + k] + m2[2 * step + k]) + bias[0])
        y0o[k] = ((m0[step + k] + m1[step + k] + m2[step + k])
                  - (m0[2 * step + k] + m1[2 * step + k] + m2[2 * step + k])
                  - (m0[3 * step + k] + m1[3 * step + k] + m2[3 * step + k]) + bias[0])
        y1e[k] = ((m1[k] - m2[k] - m3[k]) + (m1[step + k] - m2[step + k] - m3[step + k])
                  + (m1[2 * step + k] - m2[2 * step + k] - m3[2 * step + k]) + bias[0])
        y1o[k] = ((m1[step + k] - m2[step + k] - m3[step + k])
                  - (m1[2 * step + k] - m2[2 * step + k] - m3[2 * step + k])
                  - (m1[3 * step + k] - m2[3 * step + k] - m3[3 * step + k]) + bias[0])


cdef inline void _interleave(real_ptr row, real_ptr even, real_ptr odd, Py_ssize_t width) noexcept nogil:
    """``row[2k] = even[k]`` and ``row[2k + 1] = odd[k]`` for the ``width`` values of ``row``."""
    cdef Py_ssize_t k
    for k in range(width // 2):
        row[2 * k] = even[k]
        row[2 * k + 1] = odd[k]
    if width & 1:
        row[width - 1] = even[width // 2]


cdef inline void _a_tile_row(
    real_ptr e0, real_ptr o0, real_ptr e1, real_ptr o1, real_ptr dm, Py_ssize_t step, Py_ssize_t tiles,
) noexcept nogil:
    """``A dY A^T`` for each tile (dY's rows in even and odd halves): down the rows and across
    alike, ``A y = (y_0, y_0 + y_1, y_0 - y_1, -y_1)``. Writes ``dm[xi * step + k]``."""
    cdef Py_ssize_t k, i
    cdef real_ptr d
    for i in range(4):  # row i of A dY
        d = dm + 4 * i * step
        if i == 0:
            for k in range(tiles):
                d[k] = e0[k]
                d[step + k] = e0[k] + o0[k]
                d[2 * step + k] = e0[k] - o0[k]
                d[3 * step + k] = -o0[k]
        elif i == 1:
            for k in range(tiles):
                d[k] = e0[k] + e1[k]
                d[step + k] = (e0[k] + e1[k]) + (o0[k] + o1[k])
                d[2 * step + k] = (e0[k] + e1[k]) - (o0[k] + o1[k])
                d[3 * step + k] = -(o0[k] + o1[k])
        elif i == 2:
            for k in range(tiles):
                d[k] = e0[k] - e1[k]
                d[step + k] = (e0[k] - e1[k]) + (o0[k] - o1[k])
                d[2 * step + k] = (e0[k] - e1[k]) - (o0[k] - o1[k])
                d[3 * step + k] = -(o0[k] - o1[k])
        else:
            for k in range(tiles):
                d[k] = -e1[k]
                d[step + k] = -e1[k] - o1[k]
                d[2 * step + k] = o1[k] - e1[k]
                d[3 * step + k] = o1[k]


cdef inline void _b_rows(
    real_ptr s0, real_ptr s1, real_ptr s2, real_ptr s3,
    real_ptr r0, real_ptr r1, real_ptr r2, real_ptr r3, Py_ssize_t tiles,
) noexcept nogil:
    """``B s`` down the rows of one column ``s_0..s_3`` of ``dV``: ``s_0, s_1 - s_2 + s_3,
    s_1 + s_2 - s_0, -s_3``."""
    cdef Py_ssize_t k
    for k in range(tiles):
        r0[k] = s0[k]
        r1[k] = s1[k] - s2[k] + s3[k]
        r2[k] = s1[k] + s2[k] - s0[k]
        r3[k] = -s3[k]


cdef inline void _b_col_add(
    real_ptr g0, real_ptr g1, real_ptr g2, real_ptr g3, real_ptr row, Py_ssize_t width,
    Py_ssize_t pad, Py_ssize_t tiles, Py_ssize_t k,
) noexcept nogil:
    """What :func:`_b_cols_add` adds at padded columns ``2k`` and ``2k + 1``, for any ``k``."""
    cdef Py_ssize_t i = 2 * k - pad
    if 0 <= i < width:
        row[i] += (g0[k] if k < tiles else 0) + (g1[k - 1] + g2[k - 1] - g0[k - 1] if k > 0 else 0)
    if 0 <= i + 1 < width:
        row[i + 1] += (g1[k] - g2[k] + g3[k] if k < tiles else 0) - (g3[k - 1] if k > 0 else 0)


cdef inline void _b_cols_add(
    real_ptr g0, real_ptr g1, real_ptr g2, real_ptr g3, real_ptr row, Py_ssize_t width,
    Py_ssize_t pad, Py_ssize_t tiles,
) noexcept nogil:
    """``g B^T`` across one row of ``B dV`` (``g_0..g_3`` per tile), added onto the input row:
    padded columns ``2k .. 2k + 3`` of tile ``k`` get ``g_0, g_1 - g_2 + g_3, g_1 + g_2 - g_0,
    -g_3``, so padded column ``2k`` sums tile ``k``'s first and tile ``k - 1``'s third, and
    ``2k + 1`` tile ``k``'s second and tile ``k - 1``'s fourth."""
    cdef Py_ssize_t k
    cdef Py_ssize_t lo = min(max(1, (pad + 1) // 2), tiles)
    cdef Py_ssize_t hi = max(lo, min((width + pad) // 2, tiles))
    for k in range(lo, hi):  # both tiles present, both columns inside the row
        row[2 * k - pad] += g0[k] + (g1[k - 1] + g2[k - 1] - g0[k - 1])
        row[2 * k + 1 - pad] += (g1[k] - g2[k] + g3[k]) - g3[k - 1]
    for k in range(lo):
        _b_col_add(g0, g1, g2, g3, row, width, pad, tiles, k)
    for k in range(hi, tiles + 1):
        _b_col_add(g0, g1, g2, g3, row, width, pad, tiles, k)


# ---------------------------------------------------------------- block transforms
cdef void _input_tiles_impl(
    real_ptr x, Py_ssize_t* strides, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t pad,
    Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t r0, Py_ssize_t r1, real_ptr v, Py_ssize_t step, Py_ssize_t row_len,
    real_ptr halves, real_ptr zeros,
) noexcept nogil:
    cdef real_ptr e[4]
    cdef real_ptr o[4]
    cdef real_ptr d
    cdef Py_ssize_t loaded[4]  # which input row (n * H + h) each of the four slots of halves holds
    cdef Py_ssize_t c, r, n, u, h, slot
    for c in range(C):
        loaded[0] = loaded[1] = loaded[2] = loaded[3] = -1
        for r in range(r0, r1):
            n = r // TH
            for u in range(4):
                h = 2 * (r - n * TH) - pad + u
                if 0 <= h < H:
                    # Input row h is row 2 or 3 of this tile row's upper neighbour too: split once.
                    slot = (h + pad) & 3
                    e[u], o[u] = halves + 2 * slot * (TW + 1), halves + (2 * slot + 1) * (TW + 1)
                    if loaded[slot] != n * H + h:
                        _split_row(_row(x, strides, r, TH, c, u - pad), W, pad, e[u], o[u], TW + 1)
                        loaded[slot] = n * H + h
                else:
                    e[u], o[u] = zeros, zeros
            d = v + c * row_len + (r - r0) * TW
            # The rows of B^T: t_0 = d_0 - d_2, t_1 = d_1 + d_2, t_2 = d_2 - d_1, t_3 = d_1 - d_3.
            _bt_tile_row(e[0], o[0], e[2], o[2], True, d, d + step, d + 2 * step, d + 3 * step, TW)
            _bt_tile_row(e[1], o[1], e[2], o[2], False, d + 4 * step, d + 5 * step, d + 6 * step, d + 7 * step, TW)
            _bt_tile_row(e[2], o[2], e[1], o[1], True, d + 8 * step, d + 9 * step, d + 10 * step, d + 11 * step, TW)
            _bt_tile_row(e[1], o[1], e[3], o[3], True, d + 12 * step, d + 13 * step, d + 14 * step, d + 15 * step,
                         TW)


def _input_tiles(
    const floating[:, :, :, :] x, Py_ssize_t pad, Py_ssize_t r0, Py_ssize_t r1, floating[:, :, :] v,
):
    """``V = B^T d B`` of every input tile of tile rows ``[r0, r1)``.

    x : (N, C, H, W); v : (16, C, >= P) to fill: ``v[4 * i + j, c, p]`` for tile ``p`` of the block
    """
    cdef Py_ssize_t C = x.shape[1], H = x.shape[2], W = x.shape[3], TH, TW
    cdef Py_ssize_t[3] strides
    TH, TW = _input_grid(x.shape, x.strides, pad, sizeof(floating), "x", strides)
    _check_block(v.shape, v.strides, sizeof(floating), C, r0, r1, x.shape[0] * TH, TW, "v")
    dtype = np.float32 if floating is float else np.float64
    # Four input rows in even and odd halves of TW + 1 values; rows in the padding are zeros.
    cdef floating[::1] halves = np.empty(8 * (TW + 1), dtype=dtype)
    cdef floating[::1] zeros = np.zeros(TW + 1, dtype=dtype)
    with nogil:
        if floating is float:
            _input_tiles_impl(<float_ptr>&x[0, 0, 0, 0], strides, C, H, W, pad, TH, TW, r0, r1,
                              <float_ptr>&v[0, 0, 0], v.strides[0] // sizeof(floating),
                              v.strides[1] // sizeof(floating), <float_ptr>&halves[0], <float_ptr>&zeros[0])
        else:
            _input_tiles_impl(<double_ptr>&x[0, 0, 0, 0], strides, C, H, W, pad, TH, TW, r0, r1,
                              <double_ptr>&v[0, 0, 0], v.strides[0] // sizeof(floating),
                              v.strides[1] // sizeof(floating), <double_ptr>&halves[0], <double_ptr>&zeros[0])


cdef void _output_tiles_impl(
    real_ptr m, Py_ssize_t step, Py_ssize_t row_len, Py_ssize_t F, real_ptr bias, Py_ssize_t r0, Py_ssize_t r1,
    real_ptr out, Py_ssize_t* strides, Py_ssize_t out_h, Py_ssize_t out_w, real_ptr y,
) noexcept nogil:
    cdef Py_ssize_t TH = (out_h + 1) // 2, TW = (out_w + 1) // 2
    cdef Py_ssize_t f, r
    cdef real_ptr row
    for f in range(F):
        for r in range(r0, r1):
            _at_tile_row(m + f * row_len + (r - r0) * TW, step, bias + f, y, y + TW, y + 2 * TW, y + 3 * TW, TW)
            row = _row(out, strides, r, TH, f, 0)
            _interleave(row, y, y + TW, out_w)
            if 2 * (r % TH) + 1 < out_h:  # the second output row of the tile, unless past H'
                _interleave(row + strides[2], y + 2 * TW, y + 3 * TW, out_w)


def _output_tiles(
    const floating[:, :, :] m, const floating[::1] bias, Py_ssize_t r0, Py_ssize_t r1,
    floating[:, :, :, :] out,
):
    """``Y = A^T M A + b`` of every output tile of tile rows ``[r0, r1)``, written into ``out``.

    m : (16, F, >= P); bias : (F,); out : (N, F, H', W')
    """
    cdef Py_ssize_t F = out.shape[1], out_h = out.shape[2], out_w = out.shape[3]
    cdef Py_ssize_t TH = (out_h + 1) // 2, TW = (out_w + 1) // 2
    _check_block(m.shape, m.strides, sizeof(floating), F, r0, r1, out.shape[0] * TH, TW, "m")
    if bias.shape[0] != F:
        raise ValueError(f"bias must have shape ({F},), got ({bias.shape[0]},)")
    cdef Py_ssize_t[3] strides
    _image_strides(out.strides, out_w, sizeof(floating), "out", strides)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] y = np.empty(4 * TW, dtype=dtype)  # two output rows, even and odd
    with nogil:
        if floating is float:
            _output_tiles_impl(<float_ptr>&m[0, 0, 0], m.strides[0] // sizeof(floating),
                               m.strides[1] // sizeof(floating), F, <float_ptr>&bias[0], r0, r1,
                               <float_ptr>&out[0, 0, 0, 0], strides, out_h, out_w, <float_ptr>&y[0])
        else:
            _output_tiles_impl(<double_ptr>&m[0, 0, 0], m.strides[0] // sizeof(floating),
                               m.strides[1] // sizeof(floating), F, <double_ptr>&bias[0], r0, r1,
                               <double_ptr>&out[0, 0, 0, 0], strides, out_h, out_w, <double_ptr>&y[0])


cdef void _output_tiles_adjoint_impl(
    real_ptr dout, Py_ssize_t* strides, Py_ssize_t F, Py_ssize_t out_h, Py_ssize_t out_w,
    Py_ssize_t r0, Py_ssize_t r1, real_ptr dm, Py_ssize_t step, Py_ssize_t row_len, real_ptr halves, real_ptr zeros,
) noexcept nogil:
    cdef Py_ssize_t TH = (out_h + 1) // 2, TW = (out_w + 1) // 2
    cdef Py_ssize_t f, r
    cdef real_ptr row
    for f in range(F):
        for r in range(r0, r1):
            row = _row(dout, strides, r, TH, f, 0)
            _split_row(row, out_w, 0, halves, halves + TW, TW)
            if 2 * (r % TH) + 1 < out_h:
                _split_row(row + strides[2], out_w, 0, halves + 2 * TW, halves + 3 * TW, TW)
                _a_tile_row(halves, halves + TW, halves + 2 * TW, halves + 3 * TW,
                            dm + f * row_len + (r - r0) * TW, step, TW)
            else:
                _a_tile_row(halves, halves + TW, zeros, zeros + TW, dm + f * row_len + (r - r0) * TW, step, TW)


def _output_tiles_adjoint(
    const floating[:, :, :, :] dout, Py_ssize_t r0, Py_ssize_t r1, floating[:, :, :] dm,
):
    """``dM = A dY A^T`` of every output tile of tile rows ``[r0, r1)``.

    dout : (N, F, H', W'); dm : (16, F, >= P) to fill
    """
    cdef Py_ssize_t F = dout.shape[1], out_h = dout.shape[2], out_w = dout.shape[3]
    cdef Py_ssize_t TH = (out_h + 1) // 2, TW = (out_w + 1) // 2
    _check_block(dm.shape, dm.strides, sizeof(floating), F, r0, r1, dout.shape[0] * TH, TW, "dm")
    cdef Py_ssize_t[3] strides
    _image_strides(dout.strides, out_w, sizeof(floating), "dout", strides)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] halves = np.empty(4 * TW, dtype=dtype)  # the tile's two rows, even and odd
    cdef floating[::1] zeros = np.zeros(2 * TW, dtype=dtype)  # the missing second row of an odd H'
    with nogil:
        if floating is float:
            _output_tiles_adjoint_impl(<float_ptr>&dout[0, 0, 0, 0], strides, F, out_h, out_w, r0, r1,
                                       <float_ptr>&dm[0, 0, 0], dm.strides[0] // sizeof(floating),
                                       dm.strides[1] // sizeof(floating), <float_ptr>&halves[0],
                                       <float_ptr>&zeros[0])
        else:
            _output_tiles_adjoint_impl(<double_ptr>&dout[0, 0, 0, 0], strides, F, out_h, out_w, r0, r1,
                                       <double_ptr>&dm[0, 0, 0], dm.strides[0] // sizeof(floating),
                                       dm.strides[1] // sizeof(floating), <double_ptr>&halves[0],
                                       <double_ptr>&zeros[0])


cdef void _input_tiles_adjoint_impl(
    real_ptr dv, Py_ssize_t step, Py_ssize_t row_len, Py_ssize_t pad, Py_ssize_t r0, Py_ssize_t r1, real_ptr dx,
    Py_ssize_t* strides, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t TH, Py_ssize_t TW,
    real_ptr g,
) noexcept nogil:
    cdef Py_ssize_t c, r, u, h, j
    cdef real_ptr src
    for c in range(C):
        for r in range(r0, r1):
            src = dv + c * row_len + (r - r0) * TW
            for j in range(4):  # g[u][j]: row u of B dV, column j
                _b_rows(src + j * step, src + (4 + j) * step, src + (8 + j) * step, src + (12 + j) * step,
                        g + j * TW, g + (4 + j) * TW, g + (8 + j) * TW, g + (12 + j) * TW, TW)
            for u in range(4):
                h = 2 * (r % TH) - pad + u
                if 0 <= h < H:
                    _b_cols_add(g + 4 * u * TW, g + (4 * u + 1) * TW, g + (4 * u + 2) * TW, g + (4 * u + 3) * TW,
                                _row(dx, strides, r, TH, c, u - pad), W, pad, TW)


def _input_tiles_adjoint(
    const floating[:, :, :] dv, Py_ssize_t pad, Py_ssize_t r0, Py_ssize_t r1, floating[:, :, :, :] dx,
):
    """Add ``B dV B^T`` of every input tile of tile rows ``[r0, r1)`` onto the pixels it came from.

    dv : (16, C, >= P); dx : (N, C, H, W), added to (tiles overlap, and so do blocks)
    """
    cdef Py_ssize_t C = dx.shape[1], H = dx.shape[2], W = dx.shape[3], TH, TW
    cdef Py_ssize_t[3] strides
    TH, TW = _input_grid(dx.shape, dx.strides, pad, sizeof(floating), "dx", strides)
    _check_block(dv.shape, dv.strides, sizeof(floating), C, r0, r1, dx.shape[0] * TH, TW, "dv")
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] g = np.empty(16 * TW, dtype=dtype)  # B dV of a tile row, row by row
    with nogil:
        if floating is float:
            _input_tiles_adjoint_impl(<float_ptr>&dv[0, 0, 0], dv.strides[0] // sizeof(floating),
                                      dv.strides[1] // sizeof(floating), pad, r0, r1, <float_ptr>&dx[0, 0, 0, 0],
                                      strides, C, H, W, TH, TW, <float_ptr>&g[0])
        else:
            _input_tiles_adjoint_impl(<double_ptr>&dv[0, 0, 0], dv.strides[0] // sizeof(floating),
                                      dv.strides[1] // sizeof(floating), pad, r0, r1, <double_ptr>&dx[0, 0, 0, 0],
                                      strides, C, H, W, TH, TW, <double_ptr>&g[0])


def _filter_transform(w):
    """``U[4 * a + b, f, c] = (G w[f, c] G^T)[a, b]``: (F, C, 3, 3) -> (16, F, C), computed in float64."""
    f, c = w.shape[:2]
    u = _G @ np.asarray(w, dtype=np.float64) @ _G.T  # (F, C, 4, 4)
    return np.ascontiguousarray(u.transpose(2, 3, 0, 1).reshape(16, f, c), dtype=w.dtype)


def _filter_transform_adjoint(du):
    """``dw[f, c] = G^T dU[:, f, c] G``: (16, F, C) -> (F, C, 3, 3)."""
    f, c = du.shape[1:]
    tiles = np.asarray(du, dtype=np.float64).reshape(4, 4, f, c).transpose(2, 3, 0, 1)
    return (_G.T @ tiles @ _G).astype(du.dtype)


def _tile_buffer(Py_ssize_t channels, Py_ssize_t tiles, dtype):
    """An uninitialised (16, channels, tiles) array whose rows start a whole, odd number of cache
    lines apart, and so do its 16 planes.

    The row kernels read or write the same tile in all 16 planes together: power-of-two strides
    between them would map those 16 lines onto one set of the (8-way) caches.
    """
    cdef Py_ssize_t line = 64 // np.dtype(dtype).itemsize
    cdef Py_ssize_t row = ((tiles + line - 1) // line) | 1  # in cache lines
    cdef Py_ssize_t plane = (channels * row) | 1
    flat = reusable((16 * plane * line,), dtype)
    itemsize = flat.itemsize
    return np.lib.stride_tricks.as_strided(
        flat, (16, channels, tiles), (plane * line * itemsize, row * line * itemsize, itemsize)
    )


def _expect_shape(name, array, shape):
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(array.shape)}")


def _blocks(Py_ssize_t rows, Py_ssize_t block_rows):
    """``(r0, r1)`` of consecutive blocks of at most ``block_rows`` tile rows."""
    if block_rows < 1:
        raise ValueError(f"need block_rows >= 1, got {block_rows}")
    return [(r0, min(r0 + block_rows, rows)) for r0 in range(0, rows, block_rows)]


def conv_forward(x, w, b, Py_ssize_t pad, Py_ssize_t block_rows, out):
    """3x3 stride-1 convolution of ``x`` by Winograd F(2x2, 3x3), by blocks of tile rows.

    Parameters
    ----------
    x : (N, C, H, W) float32 or float64, last axis contiguous
    w : (F, C, 3, 3), b : (F,), the dtype of ``x``
    pad : zero padding on every side of H and W
    block_rows : tile rows per block (each row is ``TW`` tiles)
    out : (N, F, H', W') of the dtype of ``x``, last axis contiguous, to write into

    Returns
    -------
    out
    """
    n, c, height, width = x.shape
    f = w.shape[0]
    out_h, out_w, th, tw = tile_grid(height, width, pad)
    _expect_shape("w", w, (f, c, 3, 3))
    _expect_shape("b", b, (f,))
    _expect_shape("out", out, (n, f, out_h, out_w))
    u = _filter_transform(w)
    block = min(block_rows, n * th) * tw
    v = _tile_buffer(c, block, x.dtype)
    m = _tile_buffer(f, block, x.dtype)
    for r0, r1 in _blocks(n * th, block_rows):
        p = (r1 - r0) * tw
        _input_tiles(x, pad, r0, r1, v)
        np.matmul(u, v[:, :, :p], out=m[:, :, :p])
        _output_tiles(m, b, r0, r1, out)
    return out


def conv_backward(dout, x, w, Py_ssize_t pad, Py_ssize_t block_rows, dx):
    """Gradients of :func:`conv_forward`, by blocks of tile rows (input tiles recomputed per block).

    Parameters
    ----------
    dout : (N, F, H', W') float32 or float64, last axis contiguous
    x, w, pad, block_rows : as given to :func:`conv_forward`
    dx : (N, C, H, W) of the dtype of ``x``, last axis contiguous: overwritten with the gradient;
        None to skip the input's gradient (its GEMMs and adjoint transform)

    Returns
    -------
    dx (None when given None), dw : (F, C, 3, 3), db : (F,)
    """
    n, c, height, width = x.shape
    f = w.shape[0]
    out_h, out_w, th, tw = tile_grid(height, width, pad)
    _expect_shape("w", w, (f, c, 3, 3))
    _expect_shape("dout", dout, (n, f, out_h, out_w))
    u = _filter_transform(w)
    u_t = u.transpose(0, 2, 1)  # (16, C, F); matmul hands the transpose to BLAS, no copy
    block = min(block_rows, n * th) * tw
    v = _tile_buffer(c, block, x.dtype)
    dm = _tile_buffer(f, block, x.dtype)
    du = np.zeros((16, f, c), dtype=x.dtype)
    du_block = np.empty_like(du)
    db = np.zeros(f)
    if dx is not None:
        _expect_shape("dx", dx, x.shape)
        dv = _tile_buffer(c, block, x.dtype)
        dx[...] = 0
    for r0, r1 in _blocks(n * th, block_rows):
        p = (r1 - r0) * tw
        _input_tiles(x, pad, r0, r1, v)
        _output_tiles_adjoint(dout, r0, r1, dm)
        db += dm[5, :, :p].sum(axis=1)  # dM[5] = (A dY A^T)[1, 1] is the sum of the tile's dY
        du += np.matmul(dm[:, :, :p], v[:, :, :p].transpose(0, 2, 1), out=du_block)
        if dx is not None:
            np.matmul(u_t, dm[:, :, :p], out=dv[:, :, :p])
            _input_tiles_adjoint(dv, pad, r0, r1, dx)
    return dx, _filter_transform_adjoint(du), db.astype(x.dtype)
