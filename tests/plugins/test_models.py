"""The built-in model plugins: built from DatasetMeta, trained the way their ``trainer`` says."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from sweepnet.core.solver import Solver
from sweepnet.data import Dataset, DatasetMeta
from sweepnet.errors import ConfigError
from sweepnet.model import ModelPlugin
from sweepnet.plugins.models import sweepnet_register_models
from sweepnet.registry import Registry

REGISTRY = Registry("model")
sweepnet_register_models(REGISTRY)

IMAGES = DatasetMeta("blobs", "classification", (1, 6, 6), num_classes=3)
VECTORS = DatasetMeta("blobs", "classification", (12,), num_classes=4)
TARGETS = DatasetMeta("line", "regression", (5,), num_outputs=1)


def _blobs(meta: DatasetMeta, n: int = 60, seed: int = 0) -> Dataset:
    """Well separated Gaussian blobs, one per class, of shape ``meta.input_shape``."""
    rng = np.random.default_rng(seed)
    centres = 3 * rng.standard_normal((meta.num_classes, *meta.input_shape))

    def split(size):
        y = np.arange(size) % meta.num_classes
        return (centres[y] + rng.standard_normal((size, *meta.input_shape))).astype(np.float32), y

    return Dataset(meta, *split(n), *split(n // 2), *split(n // 2))


def _line(n: int = 80, seed: int = 0) -> Dataset:
    """Noisy linear regression targets ``y = X @ w``."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(5)

    def split(size):
        X = rng.standard_normal((size, 5)).astype(np.float32)
        return X, (X @ w + 0.01 * rng.standard_normal(size)).astype(np.float32)

    return Dataset(TARGETS, *split(n), *split(n // 2), *split(n // 2))


def _build(name, meta, seed=0, **options):
    component = REGISTRY.component(name)
    return component.obj().build(component.parse_options(options, "model"), meta, seed=seed)


def test_every_model_is_registered_with_a_strict_options_model():
    solver_models = {"fc", "two_layer", "three_layer_convnet", "sequential"}
    assert set(REGISTRY.names()) == solver_models | {"knn", "linear_svm", "softmax"}
    for component in REGISTRY:
        assert issubclass(component.obj, ModelPlugin)
        assert component.options.model_config["extra"] == "forbid"
        with pytest.raises(ConfigError, match=r"^model\.colour: unknown key"):
            component.parse_options({"colour": "red"}, "model")


@pytest.mark.parametrize(
    ("name", "meta", "options", "shapes"),
    [
        ("fc", IMAGES, {"hidden_dims": [20, 10]}, {"W1": (36, 20), "W2": (20, 10), "W3": (10, 3)}),
        ("fc", VECTORS, {"hidden_dims": [8], "normalization": "batchnorm"}, {"W1": (12, 8), "gamma1": (8,)}),
        ("two_layer", VECTORS, {"hidden_dim": 7}, {"W1": (12, 7), "W2": (7, 4)}),
        ("three_layer_convnet", IMAGES, {"num_filters": 4, "filter_size": 3, "hidden_dim": 9},
         {"W1": (4, 1, 3, 3), "W2": (36, 9), "W3": (9, 3)}),
        ("sequential", IMAGES, {"layers": [{"name": "affine", "units": 3}]}, {"0.affine.W": (36, 3)}),
    ],
)  # fmt: skip
def test_solver_models_take_their_sizes_from_the_data(name, meta, options, shapes):
    assert REGISTRY.get(name).trainer == "solver"
    model = _build(name, meta, **options)
    for param, shape in shapes.items():
        assert model.params[param].shape == shape
        assert model.params[param].dtype == np.float32
    X = np.zeros((2, *meta.input_shape), dtype=np.float32)
    assert model.loss(X).shape == (2, meta.num_classes)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("fc", {"hidden_dims": [32], "weight_scale": 0.1}),
        ("two_layer", {"hidden_dim": 32, "weight_scale": 0.1}),
        ("three_layer_convnet", {"num_filters": 4, "filter_size": 3, "hidden_dim": 16, "weight_scale": 0.1}),
        ("sequential", {"layers": [{"name": "conv", "filters": 4, "kernel": 3, "pad": 1}, "relu", "flatten",
                                   {"name": "affine", "units": 3}]}),
    ],
)  # fmt: skip
def test_solver_models_learn_separable_blobs(name, options):
    data = _blobs(IMAGES)
    solver = Solver(
        _build(name, IMAGES, **options), data, update_rule="adam", optim_config={"learning_rate": 1e-2},
        num_epochs=5, batch_size=20, verbose=False, seed=0,
    )  # fmt: skip
    solver.train()
    assert solver.best_val_acc >= 0.9


def test_fc_on_regression_data_trains_with_the_mse_loss():
    data = _line()
    model = _build("fc", TARGETS, hidden_dims=[16], weight_scale=0.1)
    assert model.loss_name == "mse"
    assert model.loss(data.X_val).shape == (40, 1)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2}, num_epochs=20,
                    batch_size=16, verbose=False, seed=0)  # fmt: skip
    solver.train()
    assert solver.val_rmse_history[-1] < 0.5 * solver.val_rmse_history[0]


@pytest.mark.parametrize("name", ["two_layer", "three_layer_convnet", "knn", "linear_svm", "softmax"])
def test_classification_only_models_refuse_regression_data(name):
    options = {"num_filters": 2, "filter_size": 3} if name == "three_layer_convnet" else {}
    with pytest.raises(ConfigError, match=rf"^model.name: {name} only does classification, but 'line' is regression$"):
        _build(name, TARGETS, **options)


def test_config_mismatches_fail_at_build_time():
    with pytest.raises(ConfigError, match=r"needs images \(C, H, W\), but 'blobs' has inputs \(12,\)"):
        _build("three_layer_convnet", VECTORS)
    with pytest.raises(
        ConfigError, match=r"^model.filter_size: must be odd, so that the padding keeps the image size$"
    ):
        REGISTRY.component("three_layer_convnet").parse_options({"filter_size": 4}, "model")
    with pytest.raises(ConfigError, match=r"^model.loss: 'mse' does not suit the classification data set"):
        _build("fc", VECTORS, loss="mse")


def test_same_seed_same_weights_whatever_the_global_state():
    np.random.seed(0)
    first = _build("fc", VECTORS, seed=3, hidden_dims=[5]).params["W1"]
    np.random.seed(1)
    np.testing.assert_array_equal(_build("fc", VECTORS, seed=3, hidden_dims=[5]).params["W1"], first)
    assert not np.array_equal(_build("fc", VECTORS, seed=4, hidden_dims=[5]).params["W1"], first)


def test_knn_fits_by_memorising_and_has_no_parameters():
    data = _blobs(IMAGES)
    assert REGISTRY.get("knn").trainer == "classic"
    model = _build("knn", IMAGES, k=3)
    assert model.fit(data.X_train, data.y_train) == []
    assert model.params == {}
    assert np.mean(model.predict(data.X_val) == data.y_val) >= 0.9


@pytest.mark.parametrize("name", ["linear_svm", "softmax"])
def test_linear_classifiers_train_with_their_options(name):
    data = _blobs(VECTORS)
    assert REGISTRY.get(name).trainer == "classic"
    model = _build(name, VECTORS, learning_rate=1e-2, reg=1e-4, num_iters=60, batch_size=16)
    assert model.params == {}
    # W covers every class of the data set, even one missing from the training subset.
    history = model.fit(data.X_train[data.y_train < 3], data.y_train[data.y_train < 3])
    assert len(history) == 60 and history[-1] < history[0]
    assert model.params["W"].shape == (12, 4) and model.params["W"].dtype == np.float32
    assert model.predict(data.X_val).shape == (30,)


def test_linear_classifiers_are_reproducible_from_the_seed():
    data = _blobs(VECTORS)

    def fitted_weights(seed):
        model = _build("softmax", VECTORS, seed=seed, num_iters=5)
        model.fit(data.X_train, data.y_train)
        return model.params["W"]

    np.testing.assert_array_equal(fitted_weights(1), fitted_weights(1))
    assert not np.array_equal(fitted_weights(1), fitted_weights(2))


@pytest.mark.parametrize(
    ("name", "options", "meta"),
    [
        ("fc", {}, VECTORS),
        ("fc", {"hidden_dims": [7, 5, 3], "normalization": "batchnorm"}, IMAGES),
        ("fc", {"hidden_dims": [], "normalization": "layernorm"}, TARGETS),
        ("two_layer", {"hidden_dim": 9}, IMAGES),
        ("three_layer_convnet", {"num_filters": 4, "filter_size": 3, "hidden_dim": 11}, IMAGES),
        (
            "three_layer_convnet",
            {"num_filters": 2, "filter_size": 5},
            DatasetMeta("odd", "classification", (2, 7, 5), num_classes=6),
        ),
        ("softmax", {}, IMAGES),
        ("linear_svm", {}, VECTORS),
        ("knn", {"k": 3}, VECTORS),
    ],
)
def test_count_params_is_the_number_of_parameters_build_makes(name, options, meta):
    plugin = REGISTRY.get(name)()
    parsed = REGISTRY.component(name).parse_options(options, "model")
    model = plugin.build(parsed, meta, seed=0)
    if plugin.trainer == "classic":  # the linear classifiers create W when they first fit
        data = _blobs(meta) if meta.task == "classification" else _line()
        model.fit(data.X_train, data.y_train)
    assert plugin.count_params(parsed, meta) == sum(value.size for value in model.params.values())


def test_count_params_allocates_nothing():
    parsed = REGISTRY.component("fc").parse_options({"hidden_dims": [20_000_000, 20_000_000]}, "model")
    tracemalloc.start()
    try:
        count = REGISTRY.get("fc")().count_params(parsed, VECTORS)
        assert tracemalloc.get_traced_memory()[1] < 2**16
    finally:
        tracemalloc.stop()
    assert count == 13 * 20_000_000 + 20_000_001 * 20_000_000 + 20_000_001 * 4


def test_count_params_refuses_non_images_like_build():
    parsed = REGISTRY.component("three_layer_convnet").parse_options({}, "model")
    with pytest.raises(ConfigError, match="three_layer_convnet needs images"):
        REGISTRY.get("three_layer_convnet")().count_params(parsed, VECTORS)


def test_a_model_plugin_may_not_know_its_size():
    class Opaque(ModelPlugin):
        def build(self, options, meta, *, seed=None, rng=None, dtype=np.float32):
            raise NotImplementedError

    assert Opaque().count_params(None, VECTORS) is None
