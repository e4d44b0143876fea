"""Tests of sweepnet.core.layer_utils: numerical gradients of every sandwich layer (float64),
agreement with the chained naive layers, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from sweepnet.core.gradient_check import eval_numerical_gradient_array, rel_error
from sweepnet.core.layer_utils import (
    affine_bn_relu_backward,
    affine_bn_relu_forward,
    affine_ln_relu_backward,
    affine_ln_relu_forward,
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from sweepnet.core.layers import (
    batchnorm_forward,
    conv_forward_naive,
    layernorm_forward,
    max_pool_forward_naive,
    relu_backward,
    relu_forward,
)

CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(231)


def assert_gradients(forward, backward, args, wrt, rng, tol=1e-7, vanishing=()):
    """Check ``backward(dout, cache)`` against centered differences for ``args[i]``, i in ``wrt``.

    Positions in ``vanishing`` have an exactly zero gradient (a bias before batchnorm), where a
    relative error only compares round-off: both gradients must be ~0 instead.
    """
    out, cache = forward(*args)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    assert len(grads) == len(wrt)
    for position, analytic in zip(wrt, grads, strict=True):
        assert analytic.shape == args[position].shape
        numeric = eval_numerical_gradient_array(lambda _: forward(*args)[0], args[position], dout)
        if position in vanishing:
            assert np.abs(numeric).max() < 1e-9 and np.abs(analytic).max() < 1e-12
            continue
        assert rel_error(numeric, analytic) < tol, f"gradient of argument {position}"


def _affine_args(rng):
    return [rng.standard_normal((4, 3, 2)), rng.standard_normal((6, 5)), rng.standard_normal(5)]


def test_affine_relu(rng):
    x, w, b = _affine_args(rng)
    out, _ = affine_relu_forward(x, w, b)
    np.testing.assert_allclose(out, np.maximum(0, x.reshape(4, 6) @ w + b))
    assert_gradients(affine_relu_forward, affine_relu_backward, [x, w, b], wrt=[0, 1, 2], rng=rng)


@pytest.mark.parametrize(
    ("normalization", "norm_forward", "norm_param"),
    [("batchnorm", batchnorm_forward, {"mode": "train"}), ("layernorm", layernorm_forward, {})],
)
def test_affine_norm_relu(normalization, norm_forward, norm_param, rng):
    x, w, b = _affine_args(rng)
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    out, _ = affine_norm_relu_forward(x, w, b, gamma, beta, dict(norm_param), normalization)
    normalised, _ = norm_forward(x.reshape(4, 6) @ w + b, gamma, beta, dict(norm_param))
    np.testing.assert_allclose(out, np.maximum(0, normalised))
    args = [x, w, b, gamma, beta, dict(norm_param), normalization]
    vanishing = (2,) if normalization == "batchnorm" else ()  # batchnorm subtracts the bias again
    assert_gradients(
        affine_norm_relu_forward,
        affine_norm_relu_backward,
        args,
        wrt=[0, 1, 2, 3, 4],
        rng=rng,
        vanishing=vanishing,
    )


def test_affine_bn_relu_updates_running_stats(rng):
    x, w, b = _affine_args(rng)
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    bn_param = {"mode": "train"}
    affine_bn_relu_forward(x, w, b, gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * (x.reshape(4, 6) @ w + b).mean(axis=0))
    args = [x, w, b, gamma, beta, bn_param]
    assert_gradients(
        affine_bn_relu_forward, affine_bn_relu_backward, args, wrt=[0, 1, 2, 3, 4], rng=rng, vanishing=(2,)
    )


def test_affine_ln_relu(rng):
    x, w, b = _affine_args(rng)
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    assert_gradients(
        affine_ln_relu_forward,
        affine_ln_relu_backward,
        [x, w, b, gamma, beta, {}],
        wrt=[0, 1, 2, 3, 4],
        rng=rng,
    )


def test_affine_norm_relu_rejects_unknown_normalization(rng):
    x, w, b = _affine_args(rng)
    with pytest.raises(ValueError, match="groupnorm"):
        affine_norm_relu_forward(x, w, b, np.ones(5), np.zeros(5), {}, "groupnorm")


def _conv_args(rng):
    return [rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((3, 3, 3, 3)), rng.standard_normal(3)]


def test_conv_relu(rng):
    x, w, b = _conv_args(rng)
    out, _ = conv_relu_forward(x, w, b, CONV)
    assert rel_error(out, np.maximum(0, conv_forward_naive(x, w, b, CONV)[0])) < 1e-12
    assert_gradients(conv_relu_forward, conv_relu_backward, [x, w, b, CONV], wrt=[0, 1, 2], rng=rng)


def test_conv_relu_pool(rng):
    x, w, b = _conv_args(rng)
    out, _ = conv_relu_pool_forward(x, w, b, CONV, POOL)
    expected, _ = max_pool_forward_naive(np.maximum(0, conv_forward_naive(x, w, b, CONV)[0]), POOL)
    assert out.shape == (2, 3, 4, 4)
    assert rel_error(out, expected) < 1e-12
    assert_gradients(conv_relu_pool_forward, conv_relu_pool_backward, [x, w, b, CONV, POOL], wrt=[0, 1, 2], rng=rng)


def _relu_then_pool(x, w, b, dout):
    """out, dx, dw, db of conv - ReLU - pool with the ReLU on the whole conv output (earlier versions)."""
    a, conv_cache = conv_forward_fast(x, w, b, CONV)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, POOL)
    return out, *conv_backward_fast(relu_backward(max_pool_backward_fast(dout, pool_cache), relu_cache), conv_cache)


@pytest.mark.parametrize("case", ["random", "ties", "integers"])
def test_conv_relu_pool_pools_before_the_relu_with_exactly_the_same_results(rng, case):
    # "ties": zero filters, so each window holds one bias four times, negative for some filters
    # (windows with no positive value); "integers": many ties and zeros among other values.
    x, w, b = _conv_args(rng)
    if case == "ties":
        w[...], b[:] = 0, (-1.0, 0.0, 2.0)
    elif case == "integers":
        x, w, b = (np.round(a) for a in (x, w, b))
    out, cache = conv_relu_pool_forward(x, w, b, CONV, POOL)
    dout = rng.standard_normal(out.shape)
    for got, want in zip((out, *conv_relu_pool_backward(dout, cache)), _relu_then_pool(x, w, b, dout), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pool", [False, True])
def test_conv_sandwiches_skip_dx_when_asked(rng, pool):
    x, w, b = _conv_args(rng)
    forward, backward = (
        (conv_relu_pool_forward, conv_relu_pool_backward) if pool else (conv_relu_forward, conv_relu_backward)
    )
    out, cache = forward(x, w, b, CONV, POOL) if pool else forward(x, w, b, CONV)
    dout = rng.standard_normal(out.shape)
    _, dw, db = (g.copy() for g in backward(dout, cache))
    dx, dw_alone, db_alone = backward(dout, cache, need_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dw_alone, dw)
    np.testing.assert_array_equal(db_alone, db)


def test_float32_in_float32_out(rng):
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    g, x2, x4, w4 = f32(5), f32(4, 6), f32(2, 3, 8, 8), f32(3, 3, 3, 3)
    cases = [
        (lambda: affine_relu_forward(x2, f32(6, 5), g), affine_relu_backward),
        (lambda: affine_bn_relu_forward(x2, f32(6, 5), g, g, g, {"mode": "train"}), affine_bn_relu_backward),
        (lambda: affine_ln_relu_forward(x2, f32(6, 5), g, g, g, {}), affine_ln_relu_backward),
        (lambda: conv_relu_forward(x4, w4, g[:3], CONV), conv_relu_backward),
        (lambda: conv_relu_pool_forward(x4, w4, g[:3], CONV, POOL), conv_relu_pool_backward),
    ]
    for forward, backward in cases:
        out, cache = forward()
        assert out.dtype == np.float32
        assert all(grad.dtype == np.float32 for grad in backward(np.ones_like(out), cache))
