"""Models: classic reference values, float64 gradient checks, L2, shapes, seeding, torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sweepnet.core.gradient_check import eval_numerical_gradient, rel_error
from sweepnet.core.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet

N, D, H1, H2, C = 5, 15, 20, 30, 10


def _classification_batch(seed: int = 231) -> tuple[np.ndarray, np.ndarray]:
    """``X: (N, D)`` float64 and ``y: (N,)`` labels in [0, C)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, D)), rng.integers(C, size=N)


def _assert_gradients_match(model: Any, X: np.ndarray, y: np.ndarray, h: float = 1e-5) -> None:
    """Analytic gradients of ``model`` against centered differences, parameter by parameter.

    With ``h = 1e-5`` in float64 the difference quotient carries ~1e-11 of absolute round-off, so
    a gradient entry near zero (or exactly zero: a bias right before batchnorm) is compared with
    an absolute tolerance; everything else must agree to a relative 1e-6. A wrong backward pass
    is off by far more than either.
    """
    _, grads = model.loss(X, y)
    assert grads.keys() == model.params.keys()
    for name, param in model.params.items():
        numerical = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param, verbose=False, h=h)
        np.testing.assert_allclose(grads[name], numerical, rtol=1e-6, atol=1e-9, err_msg=name)


def test_two_layer_net_initialisation() -> None:
    model = TwoLayerNet(input_dim=D, hidden_dim=50, num_classes=C, weight_scale=1e-3, seed=0)
    assert abs(model.params["W1"].std() - 1e-3) < 1e-4
    assert abs(model.params["W2"].std() - 1e-3) < 2e-4
    assert not model.params["b1"].any() and not model.params["b2"].any()


def test_two_layer_net_classic_reference() -> None:
    n, d, h, c = 3, 5, 50, 7
    model = TwoLayerNet(input_dim=d, hidden_dim=h, num_classes=c, weight_scale=1e-3)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=d * h).reshape(d, h)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=h)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=h * c).reshape(h, c)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=c)
    X = np.linspace(-5.5, 4.5, num=n * d).reshape(d, n).T
    correct_scores = np.array(
        [
            [11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
            [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
            [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319],
        ]
    )
    assert np.abs(model.loss(X) - correct_scores).sum() < 1e-6
    y = np.array([0, 5, 1])
    assert abs(model.loss(X, y)[0] - 3.4702243556) < 1e-10
    model.reg = 1.0
    assert abs(model.loss(X, y)[0] - 26.5948426952) < 1e-10


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_gradients(reg: float) -> None:
    X, y = _classification_batch()
    model = TwoLayerNet(input_dim=D, hidden_dim=H1, num_classes=C, weight_scale=5e-2, reg=reg, seed=1)
    _assert_gradients_match(model, X, y)


FC_VARIANTS = [
    # normalization, dropout_keep_ratio, loss, reg
    (None, 1, "softmax", 0.0),
    (None, 1, "softmax", 3.14),
    ("batchnorm", 1, "softmax", 0.0),
    ("batchnorm", 1, "softmax", 3.14),
    ("layernorm", 1, "softmax", 0.5),
    (None, 0.5, "softmax", 0.0),
    ("batchnorm", 0.75, "softmax", 0.1),
    (None, 1, "svm", 0.2),
]


@pytest.mark.parametrize(("normalization", "keep", "loss", "reg"), FC_VARIANTS)
def test_fully_connected_net_gradients(normalization: str | None, keep: float, loss: str, reg: float) -> None:
    X, y = _classification_batch()
    model = FullyConnectedNet(
        [H1, H2],
        input_dim=D,
        num_classes=C,
        dropout_keep_ratio=keep,
        normalization=normalization,
        reg=reg,
        weight_scale=5e-2,
        dtype=np.float64,
        seed=123,
        loss=loss,
    )
    # Batchnorm over 5 samples behind a dropout mask has large third derivatives: at h = 1e-5 the
    # centred difference's truncation error (O(h**2)) reaches 1e-8, so take a smaller step there.
    _assert_gradients_match(model, X, y, h=1e-6 if normalization == "batchnorm" and keep < 1 else 1e-5)


def test_fully_connected_net_regression_gradients_and_predictions() -> None:
    X, _ = _classification_batch()
    y = X @ np.linspace(-1, 1, D)
    model = FullyConnectedNet(
        [H1], input_dim=D, num_classes=1, reg=0.3, weight_scale=5e-2, dtype=np.float64, seed=123, loss="mse"
    )
    _assert_gradients_match(model, X, y)
    predictions = model.loss(X)
    assert predictions.shape == (N, 1)
    assert model.loss_name == "mse"
    expected = np.mean((predictions[:, 0] - y) ** 2) + 0.15 * sum(np.sum(model.params[w] ** 2) for w in ("W1", "W2"))
    assert abs(model.loss(X, y)[0] - expected) < 1e-12


def test_fully_connected_net_initial_loss_is_chance() -> None:
    X, y = _classification_batch()
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=1e-3, dtype=np.float64, seed=0)
    assert abs(model.loss(X, y)[0] - np.log(C)) < 1e-3


def test_l2_regularisation_applies_to_weights_only() -> None:
    X, y = _classification_batch()
    kwargs: dict[str, Any] = {
        "input_dim": D,
        "num_classes": C,
        "normalization": "layernorm",
        "dtype": np.float64,
        "seed": 5,
    }
    plain = FullyConnectedNet([H1, H2], reg=0.0, **kwargs)
    regularised = FullyConnectedNet([H1, H2], reg=2.5, **kwargs)
    for name in plain.params:  # non-default gammas and betas, which must not be penalised
        plain.params[name] += 0.3
        regularised.params[name] += 0.3
    loss0, grads0 = plain.loss(X, y)
    loss1, grads1 = regularised.loss(X, y)
    weights = [name for name in plain.params if name.startswith("W")]
    penalty = 0.5 * 2.5 * sum(np.sum(plain.params[w] ** 2) for w in weights)
    assert abs(loss1 - loss0 - penalty) < 1e-10
    for name in plain.params:
        extra = 2.5 * plain.params[name] if name in weights else 0.0
        np.testing.assert_allclose(grads1[name], grads0[name] + extra, rtol=1e-12, atol=1e-14)


def test_score_shapes_and_test_mode() -> None:
    X, y = _classification_batch()
    assert TwoLayerNet(input_dim=D, num_classes=C, seed=0).loss(X).shape == (N, C)
    model = FullyConnectedNet(
        [H1, H2], input_dim=D, num_classes=C, dropout_keep_ratio=0.5, normalization="batchnorm", seed=0
    )
    model.loss(X, y)  # a training call fills the running statistics
    running_mean = model.bn_params[0]["running_mean"].copy()
    scores = model.loss(X)
    assert scores.shape == (N, C)
    np.testing.assert_array_equal(model.bn_params[0]["running_mean"], running_mean)  # test mode
    np.testing.assert_array_equal(model.loss(X), scores)  # no dropout at test time
    images = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    assert ThreeLayerConvNet(
        input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=6, num_classes=5, seed=0
    ).loss(images).shape == (2, 5)


def test_float32_is_kept_throughout() -> None:
    X, y = _classification_batch()  # float64 inputs are cast, not promoted to
    model = FullyConnectedNet(
        [H1, H2],
        input_dim=D,
        num_classes=C,
        normalization="batchnorm",
        dropout_keep_ratio=0.8,
        reg=np.float64(0.1),
        seed=0,
    )
    assert all(p.dtype == np.float32 for p in model.params.values())
    loss, grads = model.loss(X, y)
    assert np.isfinite(loss)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert model.loss(X).dtype == np.float32
    images = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    cnn = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=6, seed=0)
    _, grads = cnn.loss(images, np.array([1, 2]))
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: TwoLayerNet(input_dim=D, hidden_dim=H1, num_classes=C, **kw),
        lambda **kw: FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, **kw),
        lambda **kw: ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=6, **kw),
    ],
)
def test_initialisation_is_independent_of_global_state(make: Any) -> None:
    np.random.seed(0)
    first = make(seed=7).params
    first_rng = make(rng=np.random.default_rng(7)).params
    np.random.seed(1)
    np.random.random(10)
    second = make(seed=7).params
    second_rng = make(rng=np.random.default_rng(7)).params
    other = make(seed=8).params
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
        np.testing.assert_array_equal(first_rng[name], second_rng[name])
    assert not np.array_equal(first["W1"], other["W1"])
    with pytest.raises(ValueError, match="seed or rng"):
        make(seed=1, rng=np.random.default_rng(1))


def test_without_seed_or_rng_initialisation_follows_global_state() -> None:
    np.random.seed(3)
    first = FullyConnectedNet([H1], input_dim=D, num_classes=C).params["W1"]
    np.random.seed(3)
    np.testing.assert_array_equal(FullyConnectedNet([H1], input_dim=D, num_classes=C).params["W1"], first)


def test_dropout_masks_seeded_versus_drawn_from_rng() -> None:
    X, y = _classification_batch()
    kwargs: dict[str, Any] = {"input_dim": D, "num_classes": C, "dropout_keep_ratio": 0.5, "dtype": np.float64}
    seeded = FullyConnectedNet([H1, H2], seed=3, **kwargs)
    assert seeded.loss(X, y)[0] == seeded.loss(X, y)[0]  # the same mask on every call

    def rng_losses() -> list[float]:
        model = FullyConnectedNet([H1, H2], rng=np.random.default_rng(3), **kwargs)
        return [model.loss(X, y)[0] for _ in range(3)]

    losses = rng_losses()
    assert len(set(losses)) == 3  # fresh masks on every call
    np.random.seed(99)
    assert rng_losses() == losses  # ... reproducible from the generator, not the global state


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="normalization"):
        FullyConnectedNet([H1], normalization="groupnorm")
    with pytest.raises(ValueError, match="loss"):
        FullyConnectedNet([H1], loss="hinge")
    with pytest.raises(ValueError, match="dropout_keep_ratio"):
        FullyConnectedNet([H1], dropout_keep_ratio=0)
    with pytest.raises(ValueError, match="filter_size"):
        ThreeLayerConvNet(filter_size=4)


def test_three_layer_conv_net_gradients() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2, 3, 8, 8)), rng.integers(5, size=2)
    model = ThreeLayerConvNet(
        input_dim=(3, 8, 8),
        num_filters=3,
        filter_size=3,
        hidden_dim=7,
        num_classes=5,
        weight_scale=1e-1,
        reg=0.4,
        dtype=np.float64,
        seed=0,
    )
    _assert_gradients_match(model, X, y)


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_fully_connected_net_matches_torch(normalization: str | None) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    X, y = _classification_batch()
    model = FullyConnectedNet(
        [H1, H2],
        input_dim=D,
        num_classes=C,
        normalization=normalization,
        reg=0.3,
        weight_scale=0.2,
        dtype=np.float64,
        seed=2,
    )
    loss, grads = model.loss(X, y)

    params = {name: torch.tensor(value, requires_grad=True) for name, value in model.params.items()}
    hidden = torch.tensor(X)
    for i in (1, 2):
        hidden = hidden @ params[f"W{i}"] + params[f"b{i}"]
        if normalization == "batchnorm":
            hidden = F.batch_norm(hidden, None, None, params[f"gamma{i}"], params[f"beta{i}"], training=True)
        elif normalization == "layernorm":
            hidden = F.layer_norm(hidden, (hidden.shape[1],), params[f"gamma{i}"], params[f"beta{i}"])
        hidden = F.relu(hidden)
    scores = hidden @ params["W3"] + params["b3"]
    reference = F.cross_entropy(scores, torch.tensor(y)) + 0.15 * sum((params[f"W{i}"] ** 2).sum() for i in (1, 2, 3))
    reference.backward()
    assert abs(loss - reference.item()) < 1e-12
    for name, param in params.items():  # atol: the biases before batchnorm have zero gradient
        np.testing.assert_allclose(grads[name], param.grad.numpy(), rtol=1e-8, atol=1e-14, err_msg=name)


def test_three_layer_conv_net_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((3, 3, 8, 8)), rng.integers(4, size=3)
    model = ThreeLayerConvNet(
        input_dim=(3, 8, 8),
        num_filters=4,
        filter_size=5,
        hidden_dim=6,
        num_classes=4,
        weight_scale=0.1,
        dtype=np.float64,
        seed=1,
    )
    scores = model.loss(X)
    _, grads = model.loss(X, y)
    p = {name: torch.tensor(value, requires_grad=True) for name, value in model.params.items()}
    pooled = F.max_pool2d(F.relu(F.conv2d(torch.tensor(X), p["W1"], p["b1"], padding=2)), 2)
    reference = F.relu(pooled.flatten(1) @ p["W2"] + p["b2"]) @ p["W3"] + p["b3"]
    F.cross_entropy(reference, torch.tensor(y)).backward()
    assert rel_error(scores, reference.detach().numpy()) < 1e-10
    for name, param in p.items():
        assert rel_error(grads[name], param.grad.numpy()) < 1e-8, name
