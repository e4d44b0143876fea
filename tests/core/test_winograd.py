"""Tests of the Winograd F(2x2, 3x3) core sweepnet.core._winograd: its transforms against their
definitions and adjoints, the convolution against the naive one (float64, 1e-9) for every tile and
block boundary, float32 error, and its argument checks. The layer-level path is tested with the
other paths in test_fast_layers.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sweepnet.core import _winograd
from sweepnet.core.gradient_check import rel_error
from sweepnet.core.layers import conv_backward_naive, conv_forward_naive

NAIVE_TOL = 1e-9
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(18)


def _tile_rows(n, h, w, pad):
    _, _, th, tw = _winograd.tile_grid(h, w, pad)
    return n * th, tw


def _conv(x, w, b, pad, block_rows):
    n, _, h, wid = x.shape
    out = np.empty((n, w.shape[0], h + 2 * pad - 2, wid + 2 * pad - 2), dtype=x.dtype)
    return _winograd.conv_forward(x, w, b, pad, block_rows, out)


def test_tile_grid_counts_partial_tiles():
    assert _winograd.tile_grid(32, 32, 1) == (32, 32, 16, 16)
    assert _winograd.tile_grid(7, 4, 0) == (5, 2, 3, 1)
    with pytest.raises(ValueError, match="does not fit"):
        _winograd.tile_grid(1, 5, 0)
    with pytest.raises(ValueError, match="pad >= 0"):
        _winograd.tile_grid(5, 5, -1)


@pytest.mark.parametrize(("h", "w", "pad"), [(6, 6, 1), (5, 7, 0), (4, 3, 2)])
def test_input_tiles_are_b_transpose_d_b_of_each_padded_tile(rng, h, w, pad):
    x = rng.standard_normal((2, 3, h, w))
    rows, tw = _tile_rows(2, h, w, pad)
    v = np.empty((16, 3, rows * tw))
    _winograd._input_tiles(x, pad, 0, rows, v)
    th = rows // 2
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad + 2), (pad, pad + 2)))  # room for partial tiles
    for n, c, ti, tj in itertools.product(range(2), range(3), range(th), range(tw)):
        tile = x_pad[n, c, 2 * ti : 2 * ti + 4, 2 * tj : 2 * tj + 4]
        expected = (B_T @ tile @ B_T.T).ravel()
        np.testing.assert_allclose(v[:, c, (n * th + ti) * tw + tj], expected, rtol=1e-14, atol=1e-14)


def test_output_tiles_are_a_transpose_m_a_plus_bias(rng):
    n, f, out_h, out_w = 2, 3, 5, 3  # odd sizes: the last tiles are partial
    th, tw = (out_h + 1) // 2, (out_w + 1) // 2
    m = rng.standard_normal((16, f, n * th * tw))
    bias = rng.standard_normal(f)
    out = np.full((n, f, out_h, out_w), np.nan)
    _winograd._output_tiles(m, bias, 0, n * th, out)
    for i, k, ti, tj in itertools.product(range(n), range(f), range(th), range(tw)):
        y = A_T @ m[:, k, (i * th + ti) * tw + tj].reshape(4, 4) @ A_T.T + bias[k]
        window = out[i, k, 2 * ti : 2 * ti + 2, 2 * tj : 2 * tj + 2]
        np.testing.assert_allclose(window, y[: window.shape[0], : window.shape[1]], rtol=1e-14)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    pad=st.integers(0, 3),
    block=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_backward_transforms_are_the_adjoints_of_the_forward_ones(n, c, h, w, pad, block, seed):
    # <T(x), y> == <x, T*(y)> for the input transform and for the output transform, block by block.
    assume(h + 2 * pad >= 3 and w + 2 * pad >= 3)
    rng = np.random.default_rng(seed)
    rows, tw = _tile_rows(n, h, w, pad)
    x = rng.standard_normal((n, c, h, w))
    dx = np.zeros_like(x)
    forward = backward = 0.0
    for r0 in range(0, rows, block):
        r1 = min(r0 + block, rows)
        v = np.empty((16, c, (r1 - r0) * tw))
        _winograd._input_tiles(x, pad, r0, r1, v)
        dv = rng.standard_normal(v.shape)
        _winograd._input_tiles_adjoint(dv, pad, r0, r1, dx)
        forward += np.vdot(v, dv)
    backward = np.vdot(x, dx)
    assert np.isclose(forward, backward, rtol=1e-12, atol=1e-12)

    out_h, out_w = h + 2 * pad - 2, w + 2 * pad - 2
    m = rng.standard_normal((16, c, rows * tw))
    y = np.empty((n, c, out_h, out_w))
    _winograd._output_tiles(m, np.zeros(c), 0, rows, y)
    dy = rng.standard_normal(y.shape)
    dm = np.empty_like(m)
    _winograd._output_tiles_adjoint(dy, 0, rows, dm)
    assert np.isclose(np.vdot(y, dy), np.vdot(m, dm), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "pad"),
    [
        ((2, 3, 7, 7, 4), 1),
        ((3, 2, 9, 6, 5), 0),
        ((1, 4, 5, 8, 3), 2),
        ((2, 1, 4, 3, 2), 3),
        ((2, 5, 1, 1, 3), 1),
        ((2, 3, 2, 2, 2), 1),
    ],
)
@pytest.mark.parametrize("block_rows", [1, 2, 3, 100])
def test_conv_matches_naive_for_every_tile_and_block_boundary(rng, shape, pad, block_rows):
    n, c, h, w, f = shape
    x, weights, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, 3, 3)), rng.standard_normal(f)
    expected, cache = conv_forward_naive(x, weights, b, {"stride": 1, "pad": pad})
    out = _conv(x, weights, b, pad, block_rows)
    assert rel_error(out, expected) < NAIVE_TOL
    dout = rng.standard_normal(out.shape)
    grads = _winograd.conv_backward(dout, x, weights, pad, block_rows, np.full_like(x, np.nan))
    for got, want in zip(grads, conv_backward_naive(dout, cache), strict=True):
        assert got.shape == want.shape and got.dtype == np.float64
        assert rel_error(got, want) < NAIVE_TOL


def test_conv_takes_strided_arrays_with_a_contiguous_last_axis(rng):
    x = rng.standard_normal((4, 2, 6, 6)).transpose(1, 0, 2, 3)  # (N, C) swapped in memory
    weights, b = rng.standard_normal((3, 4, 3, 3)), rng.standard_normal(3)
    expected, cache = conv_forward_naive(x, weights, b, {"stride": 1, "pad": 1})
    out = np.empty((3, 2, 6, 6)).transpose(1, 0, 2, 3)
    assert rel_error(_winograd.conv_forward(x, weights, b, 1, 2, out), expected) < NAIVE_TOL
    dout = rng.standard_normal((3, 2, 6, 6)).transpose(1, 0, 2, 3)
    dx = np.empty((4, 2, 6, 6)).transpose(1, 0, 2, 3)
    grads = _winograd.conv_backward(dout, x, weights, 1, 2, dx)
    for got, want in zip(grads, conv_backward_naive(dout, cache), strict=True):
        assert rel_error(got, want) < NAIVE_TOL


def test_conv_rejects_rows_that_are_not_contiguous(rng):
    x = rng.standard_normal((1, 1, 6, 12))[..., ::2]
    with pytest.raises(ValueError, match="x must have a contiguous last axis"):
        _conv(x, np.ones((1, 1, 3, 3)), np.zeros(1), 1, 4)


def test_float32_error_against_float64_naive_is_that_of_a_few_roundings(rng):
    # The bound the module docstring states: ||fast - naive|| / ||naive|| of out, dx, dw, db.
    x = rng.standard_normal((4, 32, 16, 16))
    weights, b = rng.standard_normal((16, 32, 3, 3)) / np.sqrt(32 * 9), rng.standard_normal(16)
    expected, cache = conv_forward_naive(x, weights, b, {"stride": 1, "pad": 1})
    dout = rng.standard_normal(expected.shape)
    x32, w32, b32 = (a.astype(np.float32) for a in (x, weights, b))
    out = _conv(x32, w32, b32, 1, 3)
    grads = _winograd.conv_backward(dout.astype(np.float32), x32, w32, 1, 3, np.empty_like(x32))
    for got, want in zip((out, *grads), (expected, *conv_backward_naive(dout, cache)), strict=True):
        assert got.dtype == np.float32
        assert np.linalg.norm(got - want) < 1e-6 * np.linalg.norm(want)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"w": (4, 2, 3, 3)}, r"w must have shape \(4, 3, 3, 3\)"),
        ({"b": (3,)}, r"b must have shape \(4,\)"),
        ({"out": (2, 4, 5, 6)}, r"out must have shape \(2, 4, 6, 6\)"),
        ({"block_rows": 0}, "block_rows >= 1"),
    ],
)
def test_conv_forward_rejects_arrays_of_other_shapes(rng, change, message):
    shapes = {"w": (4, 3, 3, 3), "b": (4,), "out": (2, 4, 6, 6)} | change
    arrays = {name: rng.standard_normal(shape) for name, shape in shapes.items() if name != "block_rows"}
    with pytest.raises(ValueError, match=message):
        _winograd.conv_forward(
            rng.standard_normal((2, 3, 6, 6)), arrays["w"], arrays["b"], 1, change.get("block_rows", 2), arrays["out"]
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dout": (1, 4, 6, 6)}, r"dout must have shape \(2, 4, 6, 6\)"),
        ({"dx": (2, 3, 6, 5)}, r"dx must have shape \(2, 3, 6, 6\)"),
    ],
)
def test_conv_backward_rejects_arrays_of_other_shapes(rng, change, message):
    shapes = {"dout": (2, 4, 6, 6), "dx": (2, 3, 6, 6)} | change
    with pytest.raises(ValueError, match=message):
        _winograd.conv_backward(
            rng.standard_normal(shapes["dout"]),
            rng.standard_normal((2, 3, 6, 6)),
            rng.standard_normal((4, 3, 3, 3)),
            1,
            2,
            np.empty(shapes["dx"]),
        )


def test_block_kernels_check_their_buffers_and_tile_rows(rng):
    # x (2, 3, 6, 6) with pad 1: 3 x 3 tiles per image, 6 tile rows in all, 3 tiles per row.
    x, out = rng.standard_normal((2, 3, 6, 6)), np.empty((2, 4, 6, 6))
    with pytest.raises(ValueError, match=r"v must have shape \(16, 3, >= 6\)"):
        _winograd._input_tiles(x, 1, 0, 2, np.empty((16, 3, 5)))
    with pytest.raises(ValueError, match=r"tile rows must satisfy 0 <= r0 <= r1 <= 6"):
        _winograd._input_tiles(x, 1, 4, 7, np.empty((16, 3, 9)))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        _winograd._output_tiles(np.empty((16, 4, 9)), np.zeros(3), 0, 3, out)
    with pytest.raises(ValueError, match=r"dm must have shape \(16, 4, >= 9\)"):
        _winograd._output_tiles_adjoint(out, 0, 3, np.empty((16, 3, 9)))
    with pytest.raises(ValueError, match=r"dv must have shape \(16, 3, >= 9\)"):
        _winograd._input_tiles_adjoint(np.empty((16, 3, 8)), 1, 0, 3, np.zeros_like(x))
