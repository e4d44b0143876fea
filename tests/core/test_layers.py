"""Tests of sweepnet.core.layers: numerical gradients (float64), reference values, dtypes, torch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate
from scipy.special import logsumexp

from sweepnet.core.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from sweepnet.core.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    conv_backward_naive,
    conv_forward_naive,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    max_pool_backward_naive,
    max_pool_forward_naive,
    mse_loss,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_loss,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
    svm_loss,
    tanh_backward,
    tanh_forward,
)

GRAD_TOL = 1e-7


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(231)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def assert_gradients(forward, backward, args, wrt, rng, tol=GRAD_TOL):
    """Check ``backward`` against centered differences for the positional ``args`` listed in ``wrt``.

    ``forward(*args) -> (out, cache)``; ``backward(dout, cache)`` returns the gradients of
    ``args[wrt[0]], args[wrt[1]], ...`` in that order (a single array when ``wrt`` has one entry).
    """
    out, cache = forward(*args)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(wrt)
    for position, analytic in zip(wrt, grads, strict=True):
        assert analytic.shape == args[position].shape
        numeric = eval_numerical_gradient_array(lambda _: forward(*args)[0], args[position], dout)
        assert rel_error(numeric, analytic) < tol, f"gradient of argument {position}"


# --------------------------------------------------------------------------- affine and activations


def test_affine_forward_matches_explicit_sum():
    x = np.linspace(-0.1, 0.5, num=2 * 120).reshape(2, 4, 5, 6)
    w = np.linspace(-0.2, 0.3, num=120 * 3).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    expected = np.einsum("nhwc,hwcm->nm", x, w.reshape(4, 5, 6, 3)) + b
    out, _ = affine_forward(x, w, b)
    assert out.shape == (2, 3)
    assert rel_error(out, expected) < 1e-12
    # the values printed in the classic assignment for this input
    classic = [[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]]
    assert rel_error(out, np.array(classic)) < 1e-8


def test_affine_backward(rng):
    x, w, b = rng.standard_normal((10, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    assert_gradients(affine_forward, affine_backward, [x, w, b], wrt=[0, 1, 2], rng=rng)


def test_relu_forward_classic_values():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = relu_forward(x)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0))
    classic = [[0, 0, 0, 0], [0, 0, 0.04545455, 0.13636364], [0.22727273, 0.31818182, 0.40909091, 0.5]]
    assert rel_error(out, np.array(classic)) < 1e-7


@pytest.mark.parametrize(
    ("forward", "backward"),
    [
        (relu_forward, relu_backward),
        (leaky_relu_forward, leaky_relu_backward),
        (sigmoid_forward, sigmoid_backward),
        (tanh_forward, tanh_backward),
    ],
)
def test_activation_backward(forward, backward, rng):
    x = rng.standard_normal((6, 7))
    x[np.abs(x) < 1e-3] = 0.5  # keep centered differences away from the ReLU kinks
    assert_gradients(forward, backward, [x], wrt=[0], rng=rng)


def test_leaky_relu_slope_and_gradient():
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    out, cache = leaky_relu_forward(x, alpha=0.1)
    np.testing.assert_allclose(out, [-0.2, -0.05, 0.5, 3.0])
    np.testing.assert_allclose(leaky_relu_backward(np.ones(4), cache), [0.1, 0.1, 1.0, 1.0])
    assert_gradients(lambda x: leaky_relu_forward(x, 0.3), leaky_relu_backward, [x], [0], np.random.default_rng(0))


def test_sigmoid_and_tanh_values_and_overflow():
    x = np.array([-1000.0, -1.0, 0.0, 2.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s, _ = sigmoid_forward(x)
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-np.clip(x, -50, 50))), atol=1e-15)
    np.testing.assert_allclose(tanh_forward(x)[0], np.tanh(x))


# --------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_dropout_keep_rate_and_mean(p, rng):
    x = rng.standard_normal((500, 500)) + 10
    out, _ = dropout_forward(x, {"mode": "train", "p": p, "rng": rng})
    assert abs(np.mean(out != 0) - p) < 0.01  # p is the probability of KEEPING a unit
    assert abs(out.mean() - x.mean()) < 0.05 * x.mean()  # inverted dropout preserves the mean
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / p)
    test_out, _ = dropout_forward(x, {"mode": "test", "p": p})
    np.testing.assert_array_equal(test_out, x)


def test_dropout_seed_repeats_mask_without_touching_global_state(rng):
    x = rng.standard_normal((20, 30))
    state = np.random.get_state()[1].copy()
    first, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    second, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_dropout_seed_gives_the_classic_mask():
    x = np.ones((10, 10))
    out, _ = dropout_forward(x, {"mode": "train", "p": 0.2, "seed": 123})
    np.random.seed(123)  # the classic code reseeds the global state and draws np.random.rand
    np.testing.assert_array_equal(out, x * (np.random.rand(10, 10) < 0.2) / 0.2)


def test_dropout_rng_draws_fresh_masks(rng):
    x = np.ones((20, 30))
    param = {"mode": "train", "p": 0.5, "rng": np.random.default_rng(0)}
    first, _ = dropout_forward(x, param)
    second, _ = dropout_forward(x, param)
    assert not np.array_equal(first, second)


def test_dropout_falls_back_to_global_state():
    x = np.ones((20, 30))
    np.random.seed(231)
    first, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    np.random.seed(231)
    second, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    np.testing.assert_array_equal(first, second)


def test_dropout_backward(rng):
    x = rng.standard_normal((10, 10)) + 10
    for mode in ("train", "test"):
        param = {"mode": mode, "p": 0.2, "seed": 123}
        assert_gradients(dropout_forward, dropout_backward, [x, param], wrt=[0], rng=rng)


@pytest.mark.parametrize(
    "param", [{"mode": "eval", "p": 0.5}, {"mode": "train", "p": 0.0}, {"mode": "train", "p": 1.5}]
)
def test_dropout_rejects_bad_params(param):
    with pytest.raises(ValueError, match="dropout_param"):
        dropout_forward(np.ones(3), param)


# --------------------------------------------------------------------------- batchnorm


def test_batchnorm_train_normalises_and_updates_running_stats(rng):
    x = 3 * rng.standard_normal((200, 4)) + 5
    gamma, beta = np.array([1.0, 2.0, 3.0, 4.0]), np.array([11.0, 12.0, 13.0, 14.0])
    bn_param = {"mode": "train"}
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-5)
    running_mean = bn_param["running_mean"]
    np.testing.assert_allclose(running_mean, 0.1 * x.mean(axis=0))  # from zeros, momentum 0.9
    np.testing.assert_allclose(bn_param["running_var"], 0.1 * x.var(axis=0))
    x2 = rng.standard_normal((200, 4))
    batchnorm_forward(x2, gamma, beta, bn_param)
    assert bn_param["running_mean"] is running_mean  # updated in place
    np.testing.assert_allclose(running_mean, 0.9 * 0.1 * x.mean(axis=0) + 0.1 * x2.mean(axis=0))


def test_batchnorm_test_mode_uses_running_stats(rng):
    w1, w2 = rng.standard_normal((50, 60)), rng.standard_normal((60, 3))
    gamma, beta = np.ones(3), np.zeros(3)
    bn_param = {"mode": "train", "momentum": 0.5, "eps": 1e-3}
    for _ in range(50):
        a = np.maximum(0, rng.standard_normal((200, 50)) @ w1) @ w2
        batchnorm_forward(a, gamma, beta, bn_param)
    a = np.maximum(0, rng.standard_normal((200, 50)) @ w1) @ w2
    bn_param["mode"] = "test"
    out, _ = batchnorm_forward(a, gamma, beta, bn_param)
    expected = (a - bn_param["running_mean"]) / np.sqrt(bn_param["running_var"] + 1e-3)
    np.testing.assert_allclose(out, expected)
    assert np.all(np.abs(out.mean(axis=0)) < 0.3)
    assert np.all(np.abs(out.std(axis=0) - 1) < 0.3)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_batchnorm_backward_and_alt(mode, rng):
    x = 5 * rng.standard_normal((4, 5)) + 12
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    bn_param = {"mode": mode, "running_mean": rng.standard_normal(5), "running_var": rng.random(5) + 0.5}
    for backward in (batchnorm_backward, batchnorm_backward_alt):
        assert_gradients(batchnorm_forward, backward, [x, gamma, beta, bn_param], wrt=[0, 1, 2], rng=rng)
    dout = rng.standard_normal(x.shape)
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    for graph, closed in zip(batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache), strict=True):
        assert rel_error(graph, closed) < 1e-12


def test_batchnorm_rejects_unknown_mode():
    with pytest.raises(ValueError, match="bn_param"):
        batchnorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), {"mode": "eval"})


# --------------------------------------------------------------------------- layernorm, spatial norms


def test_layernorm_normalises_each_sample(rng):
    x = 3 * rng.standard_normal((4, 50)) + rng.standard_normal((4, 1)) * 10
    out, _ = layernorm_forward(x, np.ones(50), np.zeros(50), {})
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1), 1, rtol=1e-5)
    scaled, _ = layernorm_forward(x, np.full(50, 2.0), np.full(50, 3.0), {"eps": 1e-5})
    np.testing.assert_allclose(scaled, 2 * out + 3)


def test_layernorm_backward(rng):
    x = 5 * rng.standard_normal((4, 5)) + 12
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    assert_gradients(layernorm_forward, layernorm_backward, [x, gamma, beta, {}], wrt=[0, 1, 2], rng=rng)


def test_spatial_batchnorm_normalises_each_channel(rng):
    x = 4 * rng.standard_normal((10, 3, 4, 5)) + 10
    gamma, beta = np.array([3.0, 4.0, 5.0]), np.array([6.0, 7.0, 8.0])
    bn_param = {"mode": "train"}
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    expected = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, gamma[:, None, None] * expected + beta[:, None, None])
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)))


@pytest.mark.parametrize("mode", ["train", "test"])
def test_spatial_batchnorm_backward(mode, rng):
    x = 5 * rng.standard_normal((2, 3, 4, 5)) + 12
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn_param = {"mode": mode, "running_mean": rng.standard_normal(3), "running_var": rng.random(3) + 0.5}
    assert_gradients(
        spatial_batchnorm_forward,
        spatial_batchnorm_backward,
        [x, gamma, beta, bn_param],
        wrt=[0, 1, 2],
        rng=rng,
    )


def test_spatial_groupnorm_matches_loop_over_groups(rng):
    x = 4 * rng.standard_normal((2, 6, 4, 5)) + 10
    gamma, beta = rng.standard_normal((1, 6, 1, 1)), rng.standard_normal((1, 6, 1, 1))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, 2, {})
    expected = np.empty_like(x)
    for n in range(2):
        for channels in (slice(0, 3), slice(3, 6)):
            group = x[n, channels]
            expected[n, channels] = (group - group.mean()) / np.sqrt(group.var() + 1e-5)
    np.testing.assert_allclose(out, gamma * expected + beta)


def test_spatial_groupnorm_backward(rng):
    x = 5 * rng.standard_normal((2, 6, 4, 5)) + 12
    gamma, beta = rng.standard_normal((1, 6, 1, 1)), rng.standard_normal((1, 6, 1, 1))
    args = [x, gamma, beta, 3, {"eps": 1e-5}]
    assert_gradients(spatial_groupnorm_forward, spatial_groupnorm_backward, args, wrt=[0, 1, 2], rng=rng)


def test_spatial_groupnorm_requires_divisible_channels():
    x = np.ones((2, 6, 3, 3))
    with pytest.raises(ValueError, match="G=4"):
        spatial_groupnorm_forward(x, np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1)), 4, {})


# --------------------------------------------------------------------------- convolution and pooling


def _conv_reference(x, w, b, stride, pad):
    """Cross-correlation with scipy on the padded input, subsampled by the stride."""
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.array([[correlate(sample, filt, mode="valid")[0] for filt in w] for sample in x_pad])
    return out[:, :, ::stride, ::stride] + b[:, None, None]


@pytest.mark.parametrize(("stride", "pad", "size"), [(2, 1, 4), (1, 0, 5), (1, 2, 5), (2, 1, 6), (3, 0, 7)])
def test_conv_forward_matches_scipy(stride, pad, size):
    x = np.linspace(-0.1, 0.5, num=2 * 3 * size * size).reshape(2, 3, size, size)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    expected_hw = 1 + (size + 2 * pad - 4) // stride
    assert out.shape == (2, 3, expected_hw, expected_hw)
    assert rel_error(out, _conv_reference(x, w, b, stride, pad)) < 1e-12


def test_conv_forward_classic_values():
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    classic = [
        [[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
         [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
         [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
        [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
         [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
         [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]],
    ]  # fmt: skip
    assert rel_error(out, np.array(classic)) < 1e-7


@pytest.mark.parametrize(("stride", "pad", "size"), [(1, 1, 5), (2, 1, 6), (2, 0, 6)])
def test_conv_backward(stride, pad, size, rng):
    x, w, b = (
        rng.standard_normal((2, 3, size, size)),
        rng.standard_normal((2, 3, 3, 3)),
        rng.standard_normal(2),
    )
    conv_param = {"stride": stride, "pad": pad}
    assert_gradients(conv_forward_naive, conv_backward_naive, [x, w, b, conv_param], wrt=[0, 1, 2], rng=rng)


def test_conv_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="channels"):
        conv_forward_naive(np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3)), np.zeros(2), {"stride": 1, "pad": 0})


def test_max_pool_forward_matches_reshape_and_classic_values():
    x = np.linspace(-0.3, 0.4, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    out, _ = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_array_equal(out, x.reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5)))
    classic = [
        [[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
         [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
         [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
        [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
         [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
         [[0.32631579, 0.34105263], [0.38526316, 0.4]]],
    ]  # fmt: skip
    assert rel_error(out, np.array(classic)) < 1e-7


@pytest.mark.parametrize(("ph", "pw", "stride", "size"), [(2, 2, 2, 8), (3, 2, 1, 5), (2, 2, 3, 7)])
def test_max_pool_backward(ph, pw, stride, size, rng):
    x = rng.standard_normal((3, 2, size, size))
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    assert_gradients(max_pool_forward_naive, max_pool_backward_naive, [x, pool_param], wrt=[0], rng=rng)


def test_max_pool_backward_routes_ties_to_first_max():
    x = np.zeros((1, 1, 4, 4))  # all ties, as after a ReLU
    x[0, 0, 3, 3] = -1.0
    _, cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = max_pool_backward_naive(np.full((1, 1, 2, 2), 5.0), cache)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 5.0  # the top-left element is the first maximum of every window
    np.testing.assert_array_equal(dx[0, 0], expected)


@pytest.mark.parametrize(
    "forward",
    [
        lambda x: conv_forward_naive(x, np.ones((1, 1, 5, 5)), np.zeros(1), {"stride": 1, "pad": 0}),
        lambda x: max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 0}),
    ],
)
def test_conv_and_pool_reject_bad_geometry(forward):
    with pytest.raises(ValueError):
        forward(np.ones((1, 1, 3, 3)))


# --------------------------------------------------------------------------- losses


def test_classic_loss_values():
    np.random.seed(231)
    x = 0.001 * np.random.randn(50, 10)
    y = np.random.randint(10, size=50)
    assert abs(svm_loss(x, y)[0] - 8.999602749096233) < 1e-9  # printed in the classic notebook
    assert abs(softmax_loss(x, y)[0] - 2.302545844500738) < 1e-9


def test_svm_and_softmax_losses_match_loops(rng):
    x, y = rng.standard_normal((7, 4)), rng.integers(4, size=7)
    hinge = sum(max(0.0, x[i, j] - x[i, y[i]] + 1) for i in range(7) for j in range(4) if j != y[i]) / 7
    assert svm_loss(x, y)[0] == pytest.approx(hinge, rel=1e-12)
    cross_entropy = np.mean([logsumexp(x[i]) - x[i, y[i]] for i in range(7)])
    assert softmax_loss(x, y)[0] == pytest.approx(cross_entropy, rel=1e-12)


@pytest.mark.parametrize("loss", [svm_loss, softmax_loss])
def test_classification_loss_gradients(loss, rng):
    x, y = rng.standard_normal((50, 10)), rng.integers(10, size=50)
    numeric = eval_numerical_gradient(lambda x: loss(x, y)[0], x, verbose=False)
    assert rel_error(numeric, loss(x, y)[1]) < 1e-6  # loss round-off / 2h limits the tiny entries


def test_softmax_is_stable_for_huge_scores():
    x = np.array([[1000.0, 0.0, -1000.0], [5000.0, 5000.0, 0.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is harmless
        loss, dx = softmax_loss(x, np.array([0, 2]))
    assert loss == pytest.approx((0 + 5000 + np.log(2)) / 2, rel=1e-12)  # per-sample losses, averaged
    assert np.all(np.isfinite(dx))


def test_mse_loss_values_shapes_and_gradient(rng):
    x, y = rng.standard_normal((8, 1)), rng.standard_normal(8)
    loss, dx = mse_loss(x, y)
    assert loss == pytest.approx(np.mean((x[:, 0] - y) ** 2), rel=1e-12)
    assert dx.shape == (8, 1)
    numeric = eval_numerical_gradient(lambda x: mse_loss(x, y)[0], x, verbose=False)
    assert rel_error(numeric, dx) < 1e-8
    with pytest.raises(ValueError, match="mse_loss"):
        mse_loss(x, np.ones(7))


# --------------------------------------------------------------------------- dtype preservation


def _float32_cases(rng):
    """(name, forward thunk, backward) with every input float32."""
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    x2, x4, g, g4 = f32(6, 5), f32(2, 4, 6, 6), f32(5), f32(1, 4, 1, 1)
    keep = {"mode": "train", "p": np.float64(0.3), "seed": 1}  # a float64 p must not upcast either
    conv = {"stride": 1, "pad": 1}
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    return [
        ("affine", lambda: affine_forward(f32(6, 2, 3), f32(6, 4), f32(4)), affine_backward),
        ("relu", lambda: relu_forward(x2), relu_backward),
        ("leaky_relu", lambda: leaky_relu_forward(x2, 0.1), leaky_relu_backward),
        ("sigmoid", lambda: sigmoid_forward(x2), sigmoid_backward),
        ("tanh", lambda: tanh_forward(x2), tanh_backward),
        ("dropout", lambda: dropout_forward(x2, keep), dropout_backward),
        ("batchnorm", lambda: batchnorm_forward(x2, g, g, {"mode": "train"}), batchnorm_backward),
        ("batchnorm_alt", lambda: batchnorm_forward(x2, g, g, {"mode": "train"}), batchnorm_backward_alt),
        ("layernorm", lambda: layernorm_forward(x2, g, g, {}), layernorm_backward),
        (
            "spatial_bn",
            lambda: spatial_batchnorm_forward(x4, g[:4], g[:4], {"mode": "train"}),
            spatial_batchnorm_backward,
        ),
        ("spatial_gn", lambda: spatial_groupnorm_forward(x4, g4, g4, 2, {}), spatial_groupnorm_backward),
        ("conv", lambda: conv_forward_naive(x4, f32(3, 4, 3, 3), f32(3), conv), conv_backward_naive),
        ("pool", lambda: max_pool_forward_naive(x4, pool), max_pool_backward_naive),
    ]


def test_float32_in_float32_out(rng):
    for name, forward, backward in _float32_cases(rng):
        out, cache = forward()
        assert out.dtype == np.float32, name
        grads = backward(np.ones_like(out), cache)
        for grad in grads if isinstance(grads, tuple) else (grads,):
            assert grad.dtype == np.float32, name


def test_float32_losses_and_running_stats(rng):
    x, y = rng.standard_normal((6, 4)).astype(np.float32), rng.integers(4, size=6)
    for loss in (svm_loss, softmax_loss):
        assert loss(x, y)[1].dtype == np.float32
    assert mse_loss(x[:, :1], rng.standard_normal(6))[1].dtype == np.float32  # float64 targets
    bn_param = {"mode": "train"}
    batchnorm_forward(x, np.ones(4, np.float32), np.zeros(4, np.float32), bn_param)
    assert bn_param["running_mean"].dtype == bn_param["running_var"].dtype == np.float32


# --------------------------------------------------------------------------- torch cross-checks


def test_batchnorm_matches_torch(torch, rng):
    x, gamma, beta, dout = (rng.standard_normal(s) for s in [(16, 5), 5, 5, (16, 5)])
    out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    t_out = torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True, eps=1e-5)
    t_out.backward(torch.tensor(dout))
    assert rel_error(out, t_out.detach().numpy()) < 1e-10
    for ours, theirs in zip(batchnorm_backward(dout, cache), (tx, tg, tb), strict=True):
        assert rel_error(ours, theirs.grad.numpy()) < 1e-10


def test_layernorm_matches_torch(torch, rng):
    x, gamma, beta, dout = (rng.standard_normal(s) for s in [(4, 7), 7, 7, (4, 7)])
    out, cache = layernorm_forward(x, gamma, beta, {})
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    t_out = torch.nn.functional.layer_norm(tx, (7,), tg, tb, eps=1e-5)
    t_out.backward(torch.tensor(dout))
    assert rel_error(out, t_out.detach().numpy()) < 1e-10
    for ours, theirs in zip(layernorm_backward(dout, cache), (tx, tg, tb), strict=True):
        assert rel_error(ours, theirs.grad.numpy()) < 1e-10


def test_groupnorm_matches_torch(torch, rng):
    x, dout = rng.standard_normal((3, 6, 4, 4)), rng.standard_normal((3, 6, 4, 4))
    gamma, beta = rng.standard_normal((1, 6, 1, 1)), rng.standard_normal((1, 6, 1, 1))
    out, cache = spatial_groupnorm_forward(x, gamma, beta, 3, {})
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma.ravel(), beta.ravel()))
    t_out = torch.nn.functional.group_norm(tx, 3, tg, tb, eps=1e-5)
    t_out.backward(torch.tensor(dout))
    assert rel_error(out, t_out.detach().numpy()) < 1e-10
    dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)
    assert dgamma.shape == dbeta.shape == (1, 6, 1, 1)
    for ours, theirs in zip((dx, dgamma.ravel(), dbeta.ravel()), (tx, tg, tb), strict=True):
        assert rel_error(ours, theirs.grad.numpy()) < 1e-10


def test_softmax_loss_matches_torch_cross_entropy(torch, rng):
    x, y = 10 * rng.standard_normal((20, 6)), rng.integers(6, size=20)
    loss, dx = softmax_loss(x, y)
    tx = torch.tensor(x, requires_grad=True)
    t_loss = torch.nn.functional.cross_entropy(tx, torch.tensor(y))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    assert rel_error(dx, tx.grad.numpy()) < 1e-10


def test_conv_matches_torch(torch, rng):
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    dout = rng.standard_normal(out.shape)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = torch.nn.functional.conv2d(tx, tw, tb, stride=2, padding=1)
    t_out.backward(torch.tensor(dout))
    assert rel_error(out, t_out.detach().numpy()) < 1e-10
    for ours, theirs in zip(conv_backward_naive(dout, cache), (tx, tw, tb), strict=True):
        assert rel_error(ours, theirs.grad.numpy()) < 1e-10


def test_max_pool_matches_torch(torch, rng):
    x = rng.standard_normal((2, 3, 7, 7))
    pool_param = {"pool_height": 3, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_naive(x, pool_param)
    dout = rng.standard_normal(out.shape)
    tx = torch.tensor(x, requires_grad=True)
    t_out = torch.nn.functional.max_pool2d(tx, kernel_size=(3, 2), stride=2)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    assert rel_error(max_pool_backward_naive(dout, cache), tx.grad.numpy()) < 1e-12
