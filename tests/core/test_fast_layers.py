"""Tests of sweepnet.core.fast_layers and its Cython core: against the naive layers (float64, 1e-9),
numerical gradients, float32, ties in pooling, torch, and the error when the extension is missing."""

from __future__ import annotations

import importlib
import itertools
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import sweepnet.core
from sweepnet.core import _fastconv
from sweepnet.core.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from sweepnet.core.gradient_check import eval_numerical_gradient_array, rel_error
from sweepnet.core.layers import (
    conv_backward_naive,
    conv_forward_naive,
    max_pool_backward_naive,
    max_pool_forward_naive,
)

NAIVE_TOL = 1e-9
GRAD_TOL = 1e-7

# (N, C, H, W, F, HH, WW): odd and non-square inputs and kernels, 1x1 kernels, kernels as large as the input.
CONV_SHAPES = [
    (2, 3, 7, 7, 4, 3, 3),
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
# (x shape, pool_height, pool_width, stride, path the fast layer takes)
POOL_CASES = [
    ((2, 3, 8, 8), 2, 2, 2, "reshape"),
    ((3, 2, 6, 9), 3, 3, 3, "reshape"),
    ((2, 3, 7, 9), 3, 2, 2, "general"),
    ((2, 2, 8, 8), 2, 2, 1, "general"),
    ((1, 2, 9, 8), 2, 2, 2, "general"),  # pools of the right size that do not tile H
    ((2, 1, 5, 7), 3, 3, 2, "general"),
]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(231)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _conv_inputs(rng, shape, dtype=np.float64):
    n, c, h, w, f, hh, ww = shape
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weights = rng.standard_normal((f, c, hh, ww)).astype(dtype)
    return x, weights, rng.standard_normal(f).astype(dtype)


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
    n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
    hh=st.integers(1, 4), ww=st.integers(1, 4), pad=st.integers(0, 3), stride=st.integers(1, 4),
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
    expected = np.array([
        [x_pad[n, c, i * stride + kh, j * stride + kw] for n, i, j in positions]
        for c, kh, kw in itertools.product(range(3), range(hh), range(ww))  # row order
    ])
    np.testing.assert_array_equal(cols, expected)


def test_im2col_rejects_an_out_buffer_of_the_wrong_shape(rng):
    x = rng.standard_normal((1, 1, 4, 4))
    with pytest.raises(ValueError, match="out must be a float64 array of shape"):
        _fastconv.im2col(x, 3, 3, 1, 1, out=np.empty((9, 15)))


# --------------------------------------------------------------------------- convolution


@pytest.mark.parametrize(("shape", "stride", "pad"), CONV_CASES)
def test_conv_fast_matches_naive(rng, shape, stride, pad):
    x, w, b = _conv_inputs(rng, shape)
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    naive_out, naive_cache = conv_forward_naive(x, w, b, conv_param)
    assert out.shape == naive_out.shape
    assert out.transpose(1, 0, 2, 3).flags.c_contiguous  # the GEMM's (F, N, H', W') result, not copied
    assert rel_error(out, naive_out) < NAIVE_TOL
    dout = rng.standard_normal(out.shape)
    dout_like_out = np.empty_like(out)  # out's layout: what an elementwise op on out gives back
    dout_like_out[...] = dout
    naive_grads = conv_backward_naive(dout, naive_cache)
    for upstream in (dout, dout_like_out):
        for fast, naive in zip(conv_backward_fast(upstream, cache), naive_grads, strict=True):
            assert fast.shape == naive.shape
            assert rel_error(fast, naive) < NAIVE_TOL


@pytest.mark.parametrize(
    ("shape", "stride", "pad"), [((2, 3, 5, 6, 3, 3, 2), 1, 1), ((2, 2, 7, 6, 2, 3, 3), 2, 2)]
)
def test_conv_fast_numerical_gradients(rng, shape, stride, pad):
    x, w, b = _conv_inputs(rng, shape)
    conv_param = {"stride": stride, "pad": pad}
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


def test_conv_fast_float32_stays_float32_and_matches_float64(rng):
    x, w, b = _conv_inputs(rng, (3, 4, 9, 8, 5, 3, 3))
    conv_param = {"stride": 2, "pad": 1}
    out64, cache64 = conv_forward_fast(x, w, b, conv_param)
    out32, cache32 = conv_forward_fast(*(a.astype(np.float32) for a in (x, w, b)), conv_param)
    dout = rng.standard_normal(out64.shape)
    grads64 = conv_backward_fast(dout, cache64)
    grads32 = conv_backward_fast(dout.astype(np.float32), cache32)
    for got, expected in zip((out32, *grads32), (out64, *grads64), strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_conv_fast_takes_read_only_and_non_contiguous_inputs(rng):
    x, w, b = _conv_inputs(rng, (2, 3, 6, 5, 4, 3, 3))
    conv_param = {"stride": 1, "pad": 1}
    expected, _ = conv_forward_naive(x, w, b, conv_param)
    x_view = np.asfortranarray(x)
    x_view.setflags(write=False)
    out, cache = conv_forward_fast(x_view, w, b, conv_param)
    assert rel_error(out, expected) < NAIVE_TOL
    dx, _, _ = conv_backward_fast(np.ones_like(out)[:, :, ::-1], cache)  # a reversed view as dout
    assert dx.shape == x.shape


def test_conv_fast_rejects_mismatched_channels(rng):
    x, w, b = _conv_inputs(rng, (1, 3, 5, 5, 2, 3, 3))
    with pytest.raises(ValueError, match="expected x"):
        conv_forward_fast(x, w[:, :2], b, {"stride": 1, "pad": 0})


@pytest.mark.parametrize(
    ("conv_param", "message"),
    [({"stride": 1, "pad": 0}, "does not fit"), ({"stride": 0, "pad": 1}, "stride >= 1"),
     ({"stride": 1, "pad": -1}, "pad >= 0")],
)
def test_conv_fast_rejects_bad_windows(rng, conv_param, message):
    x, w, b = _conv_inputs(rng, (1, 1, 3, 3, 1, 5, 5))
    with pytest.raises(ValueError, match=message):
        conv_forward_fast(x, w, b, conv_param)


# --------------------------------------------------------------------------- max pooling


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "path"), POOL_CASES)
@pytest.mark.parametrize("values", ["continuous", "ties", "relu"])
def test_max_pool_fast_matches_naive_exactly(rng, shape, ph, pw, stride, path, values):
    x = {
        "continuous": lambda: rng.standard_normal(shape),
        "ties": lambda: rng.integers(-1, 2, size=shape).astype(np.float64),
        "relu": lambda: np.maximum(0.0, rng.standard_normal(shape)),  # mostly zeros after a ReLU
    }[values]()
    pool_param = _pool_param(ph, pw, stride)
    out, cache = max_pool_forward_fast(x, pool_param)
    naive_out, naive_cache = max_pool_forward_naive(x, pool_param)
    assert cache[0] == path
    np.testing.assert_array_equal(out, naive_out)
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward_fast(dout, cache)
    np.testing.assert_array_equal(dx, max_pool_backward_naive(dout, naive_cache))


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "path"), POOL_CASES[::2])
def test_max_pool_fast_routes_one_gradient_per_window_to_the_first_maximum(shape, ph, pw, stride, path):
    x = np.zeros(shape)  # every window is one big tie
    out, cache = max_pool_forward_fast(x, _pool_param(ph, pw, stride))
    dx = max_pool_backward_fast(np.ones_like(out), cache)
    assert dx.sum() == out.size
    expected = np.zeros(shape)
    for i, j in itertools.product(range(out.shape[2]), range(out.shape[3])):
        expected[:, :, i * stride, j * stride] += 1  # the top-left corner comes first
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("shape", [(2, 2, 6, 6), (2, 2, 7, 6)])  # the reshape and the general path
def test_max_pool_fast_propagates_nan_to_its_first_position(shape):
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    x[0, 0, 1, 0] = x[0, 0, 1, 1] = np.nan
    pool_param = _pool_param(2, 2, 2)
    out, cache = max_pool_forward_fast(x, pool_param)
    naive_out, naive_cache = max_pool_forward_naive(x, pool_param)
    np.testing.assert_array_equal(out, naive_out)  # NaN compares equal here
    assert np.isnan(out[0, 0, 0, 0])
    dx = max_pool_backward_fast(np.ones_like(out), cache)
    assert dx[0, 0, 1, 0] == 1 and dx[0, 0, 1, 1] == 0
    np.testing.assert_array_equal(dx, max_pool_backward_naive(np.ones_like(out), naive_cache))


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "path"), POOL_CASES[:4])
def test_max_pool_fast_numerical_gradients(rng, shape, ph, pw, stride, path):
    x = rng.standard_normal(shape)
    pool_param = _pool_param(ph, pw, stride)
    out, cache = max_pool_forward_fast(x, pool_param)
    dout = rng.standard_normal(out.shape)
    numerical = eval_numerical_gradient_array(lambda v: max_pool_forward_fast(v, pool_param)[0], x, dout)
    assert rel_error(max_pool_backward_fast(dout, cache), numerical) < GRAD_TOL


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "path"), POOL_CASES[:3])
def test_max_pool_fast_float32_stays_float32(rng, shape, ph, pw, stride, path):
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


@pytest.mark.parametrize(
    ("shape", "stride", "pad"), [((2, 3, 9, 8, 4, 3, 2), 2, 1), ((2, 4, 7, 7, 3, 5, 5), 1, 2)]
)
def test_conv_fast_matches_torch(torch, rng, shape, stride, pad):
    x, w, b = _conv_inputs(rng, shape)
    out, cache = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad)
    t_out.backward(torch.tensor(dout))
    for ours, theirs in zip((out, *conv_backward_fast(dout, cache)), (t_out, tx.grad, tw.grad, tb.grad), strict=True):
        assert rel_error(ours, theirs.detach().numpy()) < NAIVE_TOL


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "path"), POOL_CASES)
def test_max_pool_fast_matches_torch(torch, rng, shape, ph, pw, stride, path):
    x = rng.standard_normal(shape)
    out, cache = max_pool_forward_fast(x, _pool_param(ph, pw, stride))
    dout = rng.standard_normal(out.shape)
    tx = torch.tensor(x, requires_grad=True)
    t_out = torch.nn.functional.max_pool2d(tx, kernel_size=(ph, pw), stride=stride)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    np.testing.assert_allclose(max_pool_backward_fast(dout, cache), tx.grad.numpy(), rtol=1e-12)
