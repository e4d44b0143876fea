"""The built-in layer plugins: conformance, shape inference, agreement with the core and with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core import layers as core
from sweepnet.core.gradient_check import rel_error
from sweepnet.layer import ShapeError
from sweepnet.plugins.layers import (
    Affine,
    BatchNorm,
    Conv,
    Dropout,
    Flatten,
    LayerNorm,
    LeakyRelu,
    MaxPool,
    Relu,
    Sigmoid,
    SpatialBatchNorm,
    SpatialGroupNorm,
    Tanh,
    sweepnet_register_layers,
)
from sweepnet.registry import Registry
from sweepnet.testing import check_layer

REGISTRY = Registry("layer")
sweepnet_register_layers(REGISTRY)


def _init(layer, in_shape, dtype=np.float64, seed=0):
    return layer.init_params(in_shape, np.random.default_rng(seed), dtype)


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_builtin_layer_passes_the_conformance_kit(name):
    check_layer(REGISTRY.get(name))


def test_every_layer_of_the_core_is_registered():
    assert set(REGISTRY.names()) == {
        "affine", "relu", "leaky_relu", "sigmoid", "tanh", "dropout", "batchnorm", "layernorm",
        "conv", "max_pool", "spatial_batchnorm", "spatial_groupnorm", "flatten",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("layer", "in_shape", "out_shape"),
    [
        (Affine(units=7), (3, 4, 4), (7,)),  # flattens like the classic affine_forward
        (Flatten(), (3, 4, 5), (60,)),
        (Conv(filters=8, kernel=3, pad=1), (3, 16, 16), (8, 16, 16)),
        (Conv(filters=4, kernel=5), (1, 8, 6), (4, 4, 2)),
        (Conv(filters=2, kernel=3, stride=2, pad=1), (3, 7, 8), (2, 4, 4)),
        (MaxPool(), (3, 8, 8), (3, 4, 4)),
        (MaxPool(size=3, stride=1), (2, 5, 4), (2, 3, 2)),
        (SpatialGroupNorm(groups=4), (8, 3, 3), (8, 3, 3)),
        (BatchNorm(), (10,), (10,)),
    ],
)
def test_shape_inference_matches_the_forward_pass(layer, in_shape, out_shape):
    params, inferred = _init(layer, in_shape)
    assert inferred == out_shape
    out, _ = layer.forward(np.zeros((2, *in_shape)), params, "train")
    assert out.shape == (2, *out_shape)


@pytest.mark.parametrize(
    ("layer", "in_shape", "message"),
    [
        (Conv(filters=2, kernel=5), (1, 3, 3), r"^kernel 5x5 with pad 0 is larger than its input 1x3x3$"),
        (Conv(filters=2, kernel=3), (100,), r"^expects input \(C, H, W\), got \(100,\)$"),
        (MaxPool(size=4), (2, 3, 8), r"^pool window 4x4 is larger than its input 2x3x8$"),
        (BatchNorm(), (16, 4, 4), r"^expects input \(D,\), got \(16, 4, 4\); use spatial_batchnorm"),
        (LayerNorm(), (3, 2, 2), r"^expects input \(D,\), got \(3, 2, 2\); add a flatten layer first$"),
        (SpatialBatchNorm(), (12,), r"; use batchnorm for flat inputs$"),
        (SpatialGroupNorm(groups=3), (8, 2, 2), r"^3 groups do not divide the 8 channels of the input$"),
    ],
)
def test_impossible_shapes_raise_shape_errors(layer, in_shape, message):
    with pytest.raises(ShapeError, match=message):
        _init(layer, in_shape)


def test_weights_follow_weight_scale_or_he():
    params, _ = _init(Affine(units=500, weight_scale=0.01), (400,))
    assert params["W"].std() == pytest.approx(0.01, rel=0.02)
    params, _ = _init(Conv(filters=64, kernel=3), (8, 5, 5))
    assert params["W"].std() == pytest.approx(np.sqrt(2 / (8 * 3 * 3)), rel=0.05)
    assert not params["b"].any()


def test_adapters_return_exactly_the_core_results():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 6, 6))
    conv = Conv(filters=4, kernel=3, stride=1, pad=1)
    params, _ = _init(conv, (2, 6, 6))
    out, cache = conv.forward(x, params, "train")
    naive, naive_cache = core.conv_forward_naive(x, params["W"], params["b"], {"stride": 1, "pad": 1})
    assert rel_error(out, naive) < 1e-9
    dout = rng.standard_normal(out.shape)
    dx, grads = conv.backward(dout, cache)
    for ours, reference in zip((dx, grads["W"], grads["b"]), core.conv_backward_naive(dout, naive_cache), strict=True):
        assert rel_error(ours, reference) < 1e-9

    pool = MaxPool(size=2)
    out, cache = pool.forward(x, {}, "train")
    naive, naive_cache = core.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_array_equal(out, naive)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(pool.backward(dout, cache)[0], core.max_pool_backward_naive(dout, naive_cache))


def test_dropout_draws_fresh_reproducible_masks_from_the_model_generator():
    x = np.ones((4, 50))

    def masks(seed):
        layer = Dropout(keep_ratio=0.5)
        _init(layer, (50,), seed=seed)
        return [layer.forward(x, {}, "train")[0] for _ in range(2)]

    first, second = masks(seed=1)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(masks(seed=1)[0], first)
    assert set(np.unique(first)) == {0.0, 2.0}
    np.testing.assert_array_equal(Dropout(keep_ratio=0.5).forward(x, {}, "test")[0], x)


def test_dropout_with_a_seed_repeats_its_mask():
    layer = Dropout(keep_ratio=0.7, seed=3)
    _init(layer, (20,))
    x = np.ones((2, 20))
    np.testing.assert_array_equal(layer.forward(x, {}, "train")[0], layer.forward(x, {}, "train")[0])


def test_batchnorm_keeps_running_statistics_on_the_instance_and_init_resets_them():
    layer = BatchNorm(momentum=0.5)
    params, _ = _init(layer, (3,))
    x = np.random.default_rng(0).normal(5.0, 2.0, (200, 3))
    for _ in range(20):
        layer.forward(x, params, "train")
    np.testing.assert_allclose(layer.bn_param["running_mean"], x.mean(axis=0), rtol=1e-4)
    out, _ = layer.forward(x, params, "test")
    assert abs(out.mean()) < 1e-3
    _init(layer, (3,))
    assert "running_mean" not in layer.bn_param


@pytest.mark.parametrize(("layer", "in_shape"), [(BatchNorm(), (3,)), (SpatialBatchNorm(), (2, 3, 3))])
def test_batchnorm_state_is_its_running_statistics_and_load_state_restores_them(layer, in_shape):
    params, _ = _init(layer, in_shape)
    assert layer.state() == {}  # nothing before the first training step
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, (6, *in_shape))
    layer.forward(x, params, "train")
    snapshot = layer.state()
    assert sorted(snapshot) == ["running_mean", "running_var"] and snapshot["running_mean"].shape == (in_shape[0],)
    expected, _ = layer.forward(x, params, "test")
    layer.forward(rng.normal(-3.0, 1.0, (6, *in_shape)), params, "train")  # updates the statistics in place
    layer.load_state(snapshot)
    np.testing.assert_array_equal(layer.forward(x, params, "test")[0], expected)
    layer.load_state({})
    assert layer.state() == {} and layer.bn_param["momentum"] == 0.9
    with pytest.raises(ValueError, match=r"has no state running_std"):
        layer.load_state({"running_std": np.ones(in_shape[0])})


def test_layers_without_state_return_none_and_refuse_some():
    assert Relu().state() == {} and Dropout(seed=0).state() == {}
    Relu().load_state({})
    with pytest.raises(ValueError, match=r"Relu has no state, got running_mean"):
        Relu().load_state({"running_mean": np.zeros(3)})


# --------------------------------------------------------------------------- PyTorch cross-checks


TORCH_CASES = {  # name: (layer, in_shape, the same computation in torch.nn.functional F)
    "affine": (Affine(units=5), (2, 3, 2), lambda F, x, p: F.linear(x.flatten(1), p["W"].T, p["b"])),
    "conv": (
        Conv(filters=3, kernel=3, stride=2, pad=1),
        (2, 7, 6),
        lambda F, x, p: F.conv2d(x, p["W"], p["b"], stride=2, padding=1),
    ),
    "max_pool": (MaxPool(size=2), (2, 6, 6), lambda F, x, p: F.max_pool2d(x, 2)),
    "max_pool_overlapping": (MaxPool(size=3, stride=2), (2, 7, 7), lambda F, x, p: F.max_pool2d(x, 3, stride=2)),
    "batchnorm": (
        BatchNorm(),
        (6,),
        lambda F, x, p: F.batch_norm(x, None, None, p["gamma"], p["beta"], training=True, eps=1e-5),
    ),
    "spatial_batchnorm": (
        SpatialBatchNorm(),
        (3, 4, 4),
        lambda F, x, p: F.batch_norm(x, None, None, p["gamma"], p["beta"], training=True, eps=1e-5),
    ),
    "layernorm": (LayerNorm(), (6,), lambda F, x, p: F.layer_norm(x, (6,), p["gamma"], p["beta"], eps=1e-5)),
    "spatial_groupnorm": (
        SpatialGroupNorm(groups=2),
        (4, 3, 3),
        lambda F, x, p: F.group_norm(x, 2, p["gamma"], p["beta"], eps=1e-5),
    ),
    "leaky_relu": (LeakyRelu(alpha=0.1), (2, 5), lambda F, x, p: F.leaky_relu(x, 0.1)),
    "sigmoid": (Sigmoid(), (7,), lambda F, x, p: F.sigmoid(x)),
    "tanh": (Tanh(), (7,), lambda F, x, p: F.tanh(x)),
}


@pytest.mark.parametrize("case", TORCH_CASES)
def test_forward_and_backward_match_torch(case):
    layer, in_shape, reference = TORCH_CASES[case]
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params, _ = _init(layer, in_shape)
    params = {name: value + 0.1 * rng.standard_normal(value.shape) for name, value in params.items()}
    x = rng.standard_normal((4, *in_shape))
    out, cache = layer.forward(x, params, "train")
    dout = rng.standard_normal(out.shape)
    dx, grads = layer.backward(dout, cache)

    x_t = torch.tensor(x, requires_grad=True)
    params_t = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    out_t = reference(torch.nn.functional, x_t, params_t)
    out_t.backward(torch.tensor(dout))
    assert rel_error(out, out_t.detach().numpy()) < 1e-8
    assert rel_error(dx, x_t.grad.numpy()) < 1e-7
    for name, grad in grads.items():
        assert rel_error(grad, params_t[name].grad.numpy()) < 1e-7, name
