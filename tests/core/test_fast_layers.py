"""Tests of sweepnet.core.fast_layers and its Cython core: every conv path (im2col, blocked,
Winograd) and pool path against the naive layers in float64 and float32, numerical gradients,
torch, the contracts every path keeps, the automatic choice of path, concurrent threads, and the
error when the extension is missing. The Winograd core's own transforms: test_winograd.py."""

from __future__ import annotations

import importlib
import itertools
import sys
import threading

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import sweepnet.core
from sweepnet.core import _fastconv, fast_layers
from sweepnet.core.fast_layers import (
    CONV_PATHS,
    POOL_PATHS,
    auto_conv_path,
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
    use_paths,
)
from sweepnet.core.gradient_check import eval_numerical_gradient_array, rel_error
from sweepnet.core.layers import (
    conv_backward_naive,
    conv_forward_naive,
    max_pool_backward_naive,
    max_pool_forward_naive,
)

# Fast vs naive in float64, every path: largest elementwise relative error. Winograd keeps it too:
# its transforms' entries (0, +-1, +-1/2) are exact in binary and only regroup the sums (1e-13 here).
NAIVE_TOL = 1e-9
GRAD_TOL = 1e-7
# float32 vs the float64 naive conv, ||fast - naive|| / ||naive|| of out, dx, dw and db: float32
# rounds to 6e-8, and sums of up to 600 products here round that many times. Every path, Winograd
# included (its transforms add a few roundings per value), measured 1.5e-7 to 6e-7 on these layers.
FLOAT32_TOL = 2e-6

# (N, C, H, W, F, HH, WW): odd and non-square inputs and kernels, batch 1, 1x1 kernels, kernels as
# large as the input, and 3x3 kernels (the Winograd path's) down to inputs smaller than a tile.
CONV_SHAPES = [
    (2, 3, 7, 7, 4, 3, 3),
    (1, 4, 5, 8, 3, 3, 3),
    (3, 2, 6, 9, 2, 3, 3),
    (2, 5, 1, 2, 3, 3, 3),
    (3, 2, 9, 6, 5, 3, 2),
    (1, 4, 5, 8, 3, 1, 1),
    (2, 1, 6, 7, 2, 4, 3),
    (4, 2, 5, 5, 6, 5, 5),
]
CONV_CASES = [
    (shape, stride, pad)
    for shape, stride, pad in itertools.product(CONV_SHAPES, (1, 2), (0, 1, 2))
    if shape[2] + 2 * pad >= shape[5] and shape[3] + 2 * pad >= shape[6]
]


def _path_cases(cases):
    """Each ``(shape, stride, pad)`` on every path that can compute it (Winograd: 3x3 at stride 1)."""
    return [
        (shape, stride, pad, path)
        for (shape, stride, pad), path in itertools.product(cases, CONV_PATHS)
        if path != "winograd" or (shape[5:] == (3, 3) and stride == 1)
    ]


CONV_PATH_CASES = _path_cases(CONV_CASES)
# Layers with the channel counts of real nets, where float32 sums are long.
FLOAT32_PATH_CASES = _path_cases(
    [
        ((3, 32, 9, 8, 5, 3, 3), 1, 1),
        ((1, 16, 7, 6, 8, 3, 3), 1, 0),
        ((2, 64, 5, 5, 4, 3, 3), 1, 2),
        ((2, 8, 9, 9, 3, 5, 5), 2, 2),
    ]
)
# (x shape, pool_height, pool_width, stride, whether the windows tile the input: the "reshape" path)
POOL_CASES = [
    ((2, 3, 8, 8), 2, 2, 2, True),
    ((3, 2, 6, 9), 3, 3, 3, True),
    ((2, 3, 7, 9), 3, 2, 2, False),
    ((2, 2, 8, 8), 2, 2, 1, False),
    ((1, 2, 9, 8), 2, 2, 2, False),  # pools of the right size that do not tile H
    ((2, 1, 5, 7), 3, 3, 2, False),
]
POOL_PATH_CASES = [
    (*case, path) for case, path in itertools.product(POOL_CASES, POOL_PATHS) if path != "reshape" or case[4]
]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(231)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of one or two output rows (or tile rows): every block boundary case on small inputs."""
    monkeypatch.setattr(fast_layers, "cache_bytes", lambda: 1)
    monkeypatch.setattr(fast_layers, "_MIN_BLOCK_COLUMNS", 2)
    monkeypatch.setattr(fast_layers, "_MIN_BLOCK_TILES", 2)


def _conv_inputs(rng, shape, dtype=np.float64):
    n, c, h, w, f, hh, ww = shape
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weights = rng.standard_normal((f, c, hh, ww)).astype(dtype)
    return x, weights, rng.standard_normal(f).astype(dtype)


def _norm_error(got, want) -> float:
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def _pool_param(ph, pw, stride):
    return {"pool_height": ph, "pool_width": pw, "stride": stride}


# --------------------------------------------------------------------------- the compiled core


def test_missing_extension_raises_import_error_saying_how_to_build(monkeypatch):
    monkeypatch.setitem(sys.modules, "sweepnet.core._fastconv", None)  # makes its import fail
    monkeypatch.delattr(sweepnet.core, "_fastconv", raising=False)
    monkeypatch.delitem(sys.modules, "sweepnet.core.fast_layers")
    with pytest.raises(ImportError, match=r"pip install -e \.") as excinfo:
        importlib.import_module("sweepnet.core.fast_layers")
    assert "python setup.py build_ext --inplace" in str(excinfo.value)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    hh=st.integers(1, 4),
    ww=st.integers(1, 4),
    pad=st.integers(0, 3),
    stride=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_col2im_is_the_adjoint_of_im2col(n, c, h, w, hh, ww, pad, stride, seed):
    # <im2col(x), y> == <x, col2im(y)> for all x, y pins down every index and every padding case.
    assume(h + 2 * pad >= hh and w + 2 * pad >= ww)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    cols = _fastconv.im2col(x, hh, ww, pad, stride)
    y = rng.standard_normal(cols.shape)
    dx = _fastconv.col2im(y, n, c, h, w, hh, ww, pad, stride)
    assert np.isclose(np.vdot(cols, y), np.vdot(x, dx), rtol=1e-12, atol=1e-12)


def test_im2col_matches_a_direct_unfold(rng):
    x = rng.standard_normal((2, 3, 5, 6))
    pad, stride, hh, ww = 1, 2, 3, 2
    cols = _fastconv.im2col(x, hh, ww, pad, stride)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out_h, out_w = (5 + 2 * pad - hh) // stride + 1, (6 + 2 * pad - ww) // stride + 1
    positions = list(itertools.product(range(2), range(out_h), range(out_w)))  # (n, i, j), column order
    expected = np.array(
        [
            [x_pad[n, c, i * stride + kh, j * stride + kw] for n, i, j in positions]
            for c, kh, kw in itertools.product(range(3), range(hh), range(ww))  # row order
        ]
    )
    np.testing.assert_array_equal(cols, expected)


def test_im2col_rejects_an_out_buffer_of_the_wrong_shape(rng):
    x = rng.standard_normal((1, 1, 4, 4))
    with pytest.raises(ValueError, match="out must be a float64 array of shape"):
        _fastconv.im2col(x, 3, 3, 1, 1, out=np.empty((9, 15)))


def test_im2col_of_a_range_of_rows_is_that_slice_of_the_whole_batch(rng):
    x = rng.standard_normal((3, 2, 7, 6))
    whole = _fastconv.im2col(x, 3, 2, 1, 2)  # H' = 4, W' = 4
    for r0, r1 in [(0, 1), (3, 6), (5, 12), (0, 12)]:
        part = _fastconv.im2col(x, 3, 2, 1, 2, rows=(r0, r1))
        np.testing.assert_array_equal(part, whole[:, r0 * 4 : r1 * 4])


@pytest.mark.parametrize(("pad", "stride"), [(0, 1), (1, 1), (2, 2), (1, 3)])
def test_col2im_of_blocks_of_rows_adds_up_to_the_whole_batch(rng, pad, stride):
    n, c, h, w, hh, ww = 3, 2, 7, 6, 3, 3
    cols = rng.standard_normal(_fastconv.im2col(np.zeros((n, c, h, w)), hh, ww, pad, stride).shape)
    out_w = (w + 2 * pad - ww) // stride + 1
    rows = cols.shape[1] // out_w
    dx = np.zeros((n, c, h, w))
    for r0 in range(0, rows, 2):  # blocks of two rows, across image boundaries
        r1 = min(r0 + 2, rows)
        block = np.ascontiguousarray(cols[:, r0 * out_w : r1 * out_w])
        _fastconv.col2im(block, n, c, h, w, hh, ww, pad, stride, out=dx, rows=(r0, r1))
    np.testing.assert_allclose(dx, _fastconv.col2im(cols, n, c, h, w, hh, ww, pad, stride), rtol=1e-13, atol=1e-13)


def test_row_ranges_are_checked(rng):
    x = rng.standard_normal((1, 1, 4, 4))
    with pytest.raises(ValueError, match="rows must satisfy"):
        _fastconv.im2col(x, 3, 3, 1, 1, rows=(2, 5))
    with pytest.raises(ValueError, match="adds to out"):
        _fastconv.col2im(np.zeros((9, 4)), 1, 1, 4, 4, 3, 3, 1, 1, rows=(0, 1))


# --------------------------------------------------------------------------- convolution


@pytest.mark.parametrize(("shape", "stride", "pad", "path"), CONV_PATH_CASES)
def test_conv_fast_matches_naive_in_float64(rng, small_blocks, shape, stride, pad, path):
    x, w, b = _conv_inputs(rng, shape)
    conv_param = {"stride": stride, "pad": pad}
    with use_paths(conv=path):
        out, cache = conv_forward_fast(x, w, b, conv_param)
    naive_out, naive_cache = conv_forward_naive(x, w, b, conv_param)
    assert cache[0] == path
    dout = rng.standard_normal(out.shape)
    fast = (out, *conv_backward_fast(dout, cache))
    for got, want in zip(fast, (naive_out, *conv_backward_naive(dout, naive_cache)), strict=True):
        assert got.shape == want.shape and got.dtype == np.float64
        assert rel_error(got, want) < NAIVE_TOL


@pytest.mark.parametrize(("shape", "stride", "pad", "path"), FLOAT32_PATH_CASES)
def test_conv_fast_in_float32_stays_float32_and_within_float32_rounding(rng, small_blocks, shape, stride, pad, path):
    x, w, b = _conv_inputs(rng, shape)
    conv_param = {"stride": stride, "pad": pad}
    expected, naive_cache = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(expected.shape)
    with use_paths(conv=path):
        out, cache = conv_forward_fast(*(a.astype(np.float32) for a in (x, w, b)), conv_param)
    fast = (out, *conv_backward_fast(dout.astype(np.float32), cache))
    for got, want in zip(fast, (expected, *conv_backward_naive(dout, naive_cache)), strict=True):
        assert got.dtype == np.float32
        assert _norm_error(got, want) < FLOAT32_TOL


@pytest.mark.parametrize("path", CONV_PATHS)
@pytest.mark.parametrize(("shape", "pad"), [((2, 3, 5, 6, 3, 3, 3), 1), ((1, 2, 7, 6, 2, 3, 3), 2)])
def test_conv_fast_numerical_gradients(rng, small_blocks, shape, pad, path):
    x, w, b = _conv_inputs(rng, shape)
    conv_param = {"stride": 1 if path == "winograd" else 2, "pad": pad}
    with use_paths(conv=path):
        out, cache = conv_forward_fast(x, w, b, conv_param)
        dout = rng.standard_normal(out.shape)
        analytic = conv_backward_fast(dout, cache)
        numerical = (
            eval_numerical_gradient_array(lambda v: conv_forward_fast(v, w, b, conv_param)[0], x, dout),
            eval_numerical_gradient_array(lambda v: conv_forward_fast(x, v, b, conv_param)[0], w, dout),
            eval_numerical_gradient_array(lambda v: conv_forward_fast(x, w, v, conv_param)[0], b, dout),
        )
    for grad, expected in zip(analytic, numerical, strict=True):
        assert rel_error(grad, expected) < GRAD_TOL


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("shape", "stride", "pad", "path"), _path_cases([((2, 3, 7, 7, 4, 3, 3), 1, 1), ((3, 2, 9, 6, 5, 3, 2), 2, 2)])
)
def test_conv_backward_fast_without_dx_gives_the_same_dw_and_db(rng, small_blocks, shape, stride, pad, path, dtype):
    x, w, b = _conv_inputs(rng, shape, dtype)
    conv_param = {"stride": stride, "pad": pad}
    with use_paths(conv=path):
        out, cache = conv_forward_fast(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    _, dw, db = (a.copy() for a in conv_backward_fast(dout, cache))
    dx, dw_alone, db_alone = conv_backward_fast(dout, cache, need_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dw_alone, dw)
    np.testing.assert_array_equal(db_alone, db)
    assert dw_alone.dtype == db_alone.dtype == dtype


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_fast_output_is_a_transposed_view_of_the_gemm_layout(rng, path):
    # API.md: the output of every path is (N, F, H', W') laid out as (F, N, H', W') in memory.
    x, w, b = _conv_inputs(rng, (2, 8, 6, 5, 4, 3, 3))
    with use_paths(conv=path):
        out, _ = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    assert out.shape == (2, 4, 6, 5) and not out.flags.c_contiguous
    assert out.transpose(1, 0, 2, 3).flags.c_contiguous


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_backward_fast_takes_dout_in_any_layout_and_dtype(rng, path):
    x, w, b = _conv_inputs(rng, (2, 8, 6, 5, 4, 3, 3))
    conv_param = {"stride": 1, "pad": 1}
    with use_paths(conv=path):
        out, cache = conv_forward_fast(x, w, b, conv_param)
    _, naive_cache = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    like_out = np.empty_like(out)  # out's layout: what an elementwise op on out gives back
    like_out[...] = dout
    reversed_rows = dout[..., ::-1].copy()[..., ::-1]  # no contiguous axis
    expected = conv_backward_naive(dout, naive_cache)
    for upstream in (dout, like_out, reversed_rows, np.asfortranarray(dout)):
        for got, want in zip(conv_backward_fast(upstream, cache), expected, strict=True):
            assert rel_error(got, want) < NAIVE_TOL
    dout32 = dout.astype(np.float32)  # cast to x's float64: computed as the same values in float64
    for got, want in zip(
        conv_backward_fast(dout32, cache), conv_backward_naive(dout32.astype(np.float64), naive_cache), strict=False
    ):
        assert got.dtype == np.float64 and rel_error(got, want) < NAIVE_TOL


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_fast_takes_read_only_and_non_contiguous_inputs(rng, path):
    x, w, b = _conv_inputs(rng, (2, 3, 6, 5, 4, 3, 3))
    conv_param = {"stride": 1, "pad": 1}
    expected, naive_cache = conv_forward_naive(x, w, b, conv_param)
    x_view = np.asfortranarray(x)
    x_view.setflags(write=False)
    w_view = np.ascontiguousarray(w[..., ::-1])[..., ::-1]  # reversed rows: copied for the kernels
    with use_paths(conv=path):
        out, cache = conv_forward_fast(x_view, w_view, b, conv_param)
        # The next layer's input is often the previous conv's transposed output.
        chained, _ = conv_forward_fast(np.maximum(out, 0), np.ones((2, 4, 3, 3)), np.zeros(2), conv_param)
    assert rel_error(out, expected) < NAIVE_TOL
    assert (
        rel_error(
            chained, conv_forward_naive(np.maximum(expected, 0), np.ones((2, 4, 3, 3)), np.zeros(2), conv_param)[0]
        )
        < NAIVE_TOL
    )
    for got, want in zip(
        conv_backward_fast(np.ones_like(out), cache), conv_backward_naive(np.ones_like(out), naive_cache), strict=False
    ):
        assert rel_error(got, want) < NAIVE_TOL


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_fast_leaves_its_inputs_unchanged(rng, path):
    x, w, b = _conv_inputs(rng, (2, 8, 6, 5, 4, 3, 3))
    dout = rng.standard_normal((2, 4, 6, 5))
    copies = [a.copy() for a in (x, w, b, dout)]
    with use_paths(conv=path):
        _, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    conv_backward_fast(dout, cache)
    for array, copy in zip((x, w, b, dout), copies, strict=True):
        np.testing.assert_array_equal(array, copy)


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_fast_results_are_not_overwritten_by_later_calls(rng, path):
    # The large arrays live on recycled memory (_workspace): what a caller still holds is never reused.
    shape = (8, 16, 32, 32, 16, 3, 3)  # out and dx of 1 MiB, columns of 9.5 MB: all pooled
    conv_param = {"stride": 1, "pad": 1}
    x, w, b = _conv_inputs(rng, shape)
    dout = rng.standard_normal((8, 16, 32, 32))
    with use_paths(conv=path):
        out, cache = conv_forward_fast(x, w, b, conv_param)
        held = (out, *conv_backward_fast(dout, cache))
        copies = [a.copy() for a in held]
        for _ in range(3):
            other_out, other_cache = conv_forward_fast(-x, w, b, conv_param)
            conv_backward_fast(-dout, other_cache)
    for array, copy in zip(held, copies, strict=True):
        np.testing.assert_array_equal(array, copy)


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_backward_fast_gives_the_same_gradients_twice_from_one_cache(rng, path):
    x, w, b = _conv_inputs(rng, (2, 8, 6, 5, 4, 3, 3))
    with use_paths(conv=path):
        out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    dout = rng.standard_normal(out.shape)
    first = [a.copy() for a in conv_backward_fast(dout, cache)]
    for got, want in zip(conv_backward_fast(dout, cache), first, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_fast_of_an_empty_batch(rng, path):
    x, w, b = _conv_inputs(rng, (0, 8, 6, 5, 4, 3, 3))
    with use_paths(conv=path):
        out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    dx, dw, db = conv_backward_fast(np.zeros(out.shape), cache)
    assert out.shape == (0, 4, 6, 5) and dx.shape == x.shape
    np.testing.assert_array_equal(dw, np.zeros(w.shape))
    np.testing.assert_array_equal(db, np.zeros(4))


@pytest.mark.parametrize("path", CONV_PATHS)
@pytest.mark.parametrize("dout_shape", [(1, 4, 6, 5), (3, 4, 6, 5), (2, 4, 7, 5), (2, 3, 6, 5)])
def test_conv_backward_fast_rejects_a_dout_of_another_shape(rng, path, dout_shape):
    x, w, b = _conv_inputs(rng, (2, 8, 6, 5, 4, 3, 3))
    with use_paths(conv=path):
        _, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"expected dout of shape \(2, 4, 6, 5\)"):
        conv_backward_fast(np.ones(dout_shape), cache)


def test_conv_fast_rejects_mismatched_channels(rng):
    x, w, b = _conv_inputs(rng, (1, 3, 5, 5, 2, 3, 3))
    with pytest.raises(ValueError, match="expected x"):
        conv_forward_fast(x, w[:, :2], b, {"stride": 1, "pad": 0})


@pytest.mark.parametrize(
    ("conv_param", "message"),
    [
        ({"stride": 1, "pad": 0}, "does not fit"),
        ({"stride": 0, "pad": 1}, "stride >= 1"),
        ({"stride": 1, "pad": -1}, "pad >= 0"),
    ],
)
def test_conv_fast_rejects_bad_windows(rng, conv_param, message):
    x, w, b = _conv_inputs(rng, (1, 1, 3, 3, 1, 5, 5))
    with pytest.raises(ValueError, match=message):
        conv_forward_fast(x, w, b, conv_param)


def test_conv_fast_is_right_in_concurrent_threads(rng):
    # Trials may share a process (threads): each thread recycles its own memory, and the kernels
    # run without the GIL, so the paths run truly at once here, on arrays large enough to be pooled.
    conv_param = {"stride": 1, "pad": 1}
    jobs = []
    for path in CONV_PATHS * 2:
        x, w, b = _conv_inputs(rng, (8, 16, 32, 32, 16, 3, 3))
        dout = rng.standard_normal((8, 16, 32, 32))
        out, cache = conv_forward_naive(x, w, b, conv_param)
        jobs.append((path, x, w, b, dout, (out, *conv_backward_naive(dout, cache))))
    start = threading.Barrier(len(jobs))
    errors: list[float] = []

    def convolve(path, x, w, b, dout, expected) -> None:
        start.wait(timeout=60)
        with use_paths(conv=path):
            for _ in range(3):
                out, cache = conv_forward_fast(x, w, b, conv_param)
                got = (out, *conv_backward_fast(dout, cache))
                errors.append(max(rel_error(g, e) for g, e in zip(got, expected, strict=True)))

    threads = [threading.Thread(target=convolve, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(errors) == 3 * len(jobs) and max(errors) < NAIVE_TOL


# --------------------------------------------------------------------------- choice of path


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "conv_param", "path"),
    [
        ((50, 32, 32, 32), (64, 32, 3, 3), {"stride": 1, "pad": 1}, "winograd"),
        ((64, 8, 16, 16), (4, 8, 3, 3), {"stride": 1, "pad": 1}, "winograd"),
        ((64, 16, 8, 8), (32, 16, 3, 3), {"stride": 1, "pad": 1}, "im2col"),  # too narrow in float32
        ((64, 4, 32, 32), (32, 4, 3, 3), {"stride": 1, "pad": 1}, "blocked"),  # too few channels
        ((64, 32, 32, 32), (2, 32, 3, 3), {"stride": 1, "pad": 1}, "blocked"),  # too few filters
        ((50, 32, 32, 32), (64, 32, 3, 3), {"stride": 2, "pad": 1}, "blocked"),
        ((100, 3, 32, 32), (32, 3, 7, 7), {"stride": 1, "pad": 3}, "blocked"),
        ((8, 3, 16, 16), (16, 3, 5, 5), {"stride": 1, "pad": 2}, "im2col"),  # columns fit in cache
    ],
)
def test_auto_conv_path_follows_the_shape_rules(monkeypatch, x_shape, w_shape, conv_param, path):
    monkeypatch.setattr(fast_layers, "cache_bytes", lambda: 4 << 20)
    assert auto_conv_path(x_shape, w_shape, conv_param, np.float32) == path


def test_auto_conv_path_takes_winograd_on_narrow_images_in_float64_only():
    shapes = ((64, 16, 8, 8), (32, 16, 3, 3), {"stride": 1, "pad": 1})
    assert auto_conv_path(*shapes, np.float32) != "winograd"
    assert auto_conv_path(*shapes, np.float64) == "winograd"


def test_auto_conv_path_keeps_whole_batch_columns_up_to_twice_the_cache(monkeypatch):
    shapes = ((100, 3, 32, 32), (32, 3, 5, 5), {"stride": 1, "pad": 2})  # 31 MB of float32 columns
    monkeypatch.setattr(fast_layers, "cache_bytes", lambda: 24 << 20)
    assert auto_conv_path(*shapes, np.float32) == "im2col"
    assert auto_conv_path(*shapes, np.float64) == "blocked"


def test_conv_fast_takes_the_automatic_path_unless_one_is_forced(rng):
    x, w, b = _conv_inputs(rng, (2, 8, 6, 6, 4, 3, 3))  # float64: Winograd
    conv_param = {"stride": 1, "pad": 1}
    assert conv_forward_fast(x, w, b, conv_param)[1][0] == auto_conv_path(x.shape, w.shape, conv_param, x.dtype)
    with use_paths(conv="blocked"):
        assert conv_forward_fast(x, w, b, conv_param)[1][0] == "blocked"
        with use_paths(conv=None):
            assert conv_forward_fast(x, w, b, conv_param)[1][0] == "winograd"
    assert conv_forward_fast(x, w, b, conv_param)[1][0] == "winograd"


def test_forced_paths_hold_in_their_own_thread_only(rng):
    x, w, b = _conv_inputs(rng, (2, 8, 6, 6, 4, 3, 3))
    paths = []

    def convolve() -> None:
        paths.append(conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})[1][0])

    with use_paths(conv="im2col"):
        thread = threading.Thread(target=convolve)
        thread.start()
        thread.join()
    assert paths == ["winograd"]


def test_use_paths_rejects_unknown_and_impossible_paths(rng):
    with pytest.raises(ValueError, match="unknown conv path 'fft'"):
        with use_paths(conv="fft"):
            pass
    with pytest.raises(ValueError, match="unknown pool path"):
        with use_paths(pool="average"):
            pass
    x, w, b = _conv_inputs(rng, (1, 2, 6, 6, 2, 5, 5))
    with use_paths(conv="winograd"), pytest.raises(ValueError, match="3x3 filters at stride 1"):
        conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    with use_paths(pool="reshape"), pytest.raises(ValueError, match="windows that tile"):
        max_pool_forward_fast(rng.standard_normal((1, 1, 5, 5)), _pool_param(2, 2, 2))


# --------------------------------------------------------------------------- max pooling


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "tiled", "path"), POOL_PATH_CASES)
@pytest.mark.parametrize("values", ["continuous", "ties", "relu"])
def test_max_pool_fast_matches_naive_exactly(rng, shape, ph, pw, stride, tiled, path, values):
    x = {
        "continuous": lambda: rng.standard_normal(shape),
        "ties": lambda: rng.integers(-1, 2, size=shape).astype(np.float64),
        "relu": lambda: np.maximum(0.0, rng.standard_normal(shape)),  # mostly zeros after a ReLU
    }[values]()
    pool_param = _pool_param(ph, pw, stride)
    with use_paths(pool=path):
        out, cache = max_pool_forward_fast(x, pool_param)
    naive_out, naive_cache = max_pool_forward_naive(x, pool_param)
    assert cache[0] == path
    np.testing.assert_array_equal(out, naive_out)
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward_fast(dout, cache)
    np.testing.assert_array_equal(dx, max_pool_backward_naive(dout, naive_cache))


def test_max_pool_fast_takes_any_layout_and_gives_dx_the_layout_of_x(rng):
    x = rng.standard_normal((3, 2, 8, 6)).transpose(1, 0, 2, 3)  # a conv's output: (F, N, H', W') memory
    pool_param = _pool_param(2, 2, 2)
    out, cache = max_pool_forward_fast(x, pool_param)
    naive_out, naive_cache = max_pool_forward_naive(x, pool_param)
    np.testing.assert_array_equal(out, naive_out)
    assert out.flags.c_contiguous
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward_fast(dout, cache)
    assert dx.transpose(1, 0, 2, 3).flags.c_contiguous
    np.testing.assert_array_equal(dx, max_pool_backward_naive(dout, naive_cache))
    strided = rng.standard_normal((2, 2, 9, 14))[:, :, ::-1, ::2]  # no contiguous axis at all
    np.testing.assert_array_equal(
        max_pool_forward_fast(strided, pool_param)[0], max_pool_forward_naive(strided, pool_param)[0]
    )


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "tiled", "path"), POOL_PATH_CASES[::2])
def test_max_pool_fast_routes_one_gradient_per_window_to_the_first_maximum(shape, ph, pw, stride, tiled, path):
    x = np.zeros(shape)  # every window is one big tie
    with use_paths(pool=path):
        out, cache = max_pool_forward_fast(x, _pool_param(ph, pw, stride))
    dx = max_pool_backward_fast(np.ones_like(out), cache)
    assert dx.sum() == out.size
    expected = np.zeros(shape)
    for i, j in itertools.product(range(out.shape[2]), range(out.shape[3])):
        expected[:, :, i * stride, j * stride] += 1  # the top-left corner comes first
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize(
    ("shape", "path"), [((2, 2, 6, 6), "reshape"), ((2, 2, 6, 6), "general"), ((2, 2, 7, 6), "general")]
)
def test_max_pool_fast_propagates_nan_to_its_first_position(shape, path):
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    x[0, 0, 1, 0] = x[0, 0, 1, 1] = np.nan
    pool_param = _pool_param(2, 2, 2)
    with use_paths(pool=path):
        out, cache = max_pool_forward_fast(x, pool_param)
    naive_out, naive_cache = max_pool_forward_naive(x, pool_param)
    np.testing.assert_array_equal(out, naive_out)  # NaN compares equal here
    assert np.isnan(out[0, 0, 0, 0])
    dx = max_pool_backward_fast(np.ones_like(out), cache)
    assert dx[0, 0, 1, 0] == 1 and dx[0, 0, 1, 1] == 0
    np.testing.assert_array_equal(dx, max_pool_backward_naive(np.ones_like(out), naive_cache))


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "tiled"), POOL_CASES[:4])
def test_max_pool_fast_numerical_gradients(rng, shape, ph, pw, stride, tiled):
    x = rng.standard_normal(shape)
    pool_param = _pool_param(ph, pw, stride)
    out, cache = max_pool_forward_fast(x, pool_param)
    dout = rng.standard_normal(out.shape)
    numerical = eval_numerical_gradient_array(lambda v: max_pool_forward_fast(v, pool_param)[0], x, dout)
    assert rel_error(max_pool_backward_fast(dout, cache), numerical) < GRAD_TOL


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "tiled"), POOL_CASES[:3])
def test_max_pool_fast_float32_stays_float32(rng, shape, ph, pw, stride, tiled):
    x = rng.standard_normal(shape)
    pool_param = _pool_param(ph, pw, stride)
    out64, cache64 = max_pool_forward_fast(x, pool_param)
    out32, cache32 = max_pool_forward_fast(x.astype(np.float32), pool_param)
    dout = rng.standard_normal(out64.shape)
    dx32 = max_pool_backward_fast(dout.astype(np.float32), cache32)
    assert out32.dtype == dx32.dtype == np.float32
    np.testing.assert_array_equal(out32, out64.astype(np.float32))
    np.testing.assert_allclose(dx32, max_pool_backward_fast(dout, cache64), rtol=1e-6)


def test_max_pool_fast_rejects_a_window_larger_than_the_input(rng):
    with pytest.raises(ValueError, match="does not fit"):
        max_pool_forward_fast(rng.standard_normal((1, 1, 2, 2)), _pool_param(3, 3, 1))


# --------------------------------------------------------------------------- torch cross-checks


@pytest.mark.parametrize("path", CONV_PATHS)
@pytest.mark.parametrize(("shape", "pad"), [((2, 3, 9, 8, 4, 3, 3), 1), ((2, 16, 7, 7, 8, 3, 3), 2)])
def test_conv_fast_matches_torch_in_float64(torch, rng, small_blocks, shape, pad, path):
    ours, theirs = _conv_and_torch_conv(torch, rng, shape, pad, path, np.float64)
    for got, want in zip(ours, theirs, strict=True):
        assert rel_error(got, want) < NAIVE_TOL


@pytest.mark.parametrize("path", CONV_PATHS)
def test_conv_fast_matches_torch_in_float32(torch, rng, small_blocks, path):
    ours, theirs = _conv_and_torch_conv(torch, rng, (3, 32, 9, 8, 8, 3, 3), 1, path, np.float32)
    for got, want in zip(ours, theirs, strict=True):
        assert got.dtype == want.dtype == np.float32
        assert _norm_error(got, want) < 2 * FLOAT32_TOL  # both within FLOAT32_TOL of the exact result


def _conv_and_torch_conv(torch, rng, shape, pad, path, dtype):
    """out, dx, dw, db of conv_forward/backward_fast on ``path`` and of torch's conv2d, in ``dtype``."""
    stride = 1 if path == "winograd" else 2
    x, w, b = _conv_inputs(rng, shape, dtype)
    with use_paths(conv=path):
        out, cache = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape).astype(dtype)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad)
    t_out.backward(torch.tensor(dout))
    theirs = (t_out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy())
    return (out, *conv_backward_fast(dout, cache)), theirs


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "tiled", "path"), POOL_PATH_CASES)
def test_max_pool_fast_matches_torch(torch, rng, shape, ph, pw, stride, tiled, path):
    x = rng.standard_normal(shape)
    with use_paths(pool=path):
        out, cache = max_pool_forward_fast(x, _pool_param(ph, pw, stride))
    dout = rng.standard_normal(out.shape)
    tx = torch.tensor(x, requires_grad=True)
    t_out = torch.nn.functional.max_pool2d(tx, kernel_size=(ph, pw), stride=stride)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    np.testing.assert_allclose(max_pool_backward_fast(dout, cache), tx.grad.numpy(), rtol=1e-12)
