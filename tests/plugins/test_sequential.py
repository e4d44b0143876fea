"""The ``sequential`` model: layer specs from config, checked before training, trained by the Solver."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from sweepnet import __version__
from sweepnet.conformance import FirstStep, LayerContractError
from sweepnet.core.gradient_check import eval_numerical_gradient
from sweepnet.core.models import TwoLayerNet
from sweepnet.core.solver import Solver
from sweepnet.data import Dataset, DatasetMeta
from sweepnet.errors import ConfigError
from sweepnet.layer import Layer
from sweepnet.plugins.sequential import SequentialNet, SequentialPlugin
from sweepnet.registry import Registry, validate_options

from . import misbehaving

IMAGES = DatasetMeta("tiny-images", "classification", (3, 8, 8), num_classes=10)
VECTORS = DatasetMeta("blobs", "classification", (6,), num_classes=3)
TARGETS = DatasetMeta("line", "regression", (4,), num_outputs=1)

CONVNET = [
    {"name": "conv", "filters": 16, "kernel": 3, "pad": 1},
    "relu",
    {"name": "max_pool", "size": 2},
    {"name": "affine", "units": 100},
    "relu",
    {"name": "affine", "units": 10},
]


@pytest.fixture
def build(builtin_registries):
    """``build(layers, meta, **options)``: a SequentialNet from plain config data, like a sweep file's."""
    plugin = SequentialPlugin(builtin_registries.layers)

    def make(layers, meta, *, seed=0, dtype=np.float32, **options):
        parsed = plugin.Options.model_validate({"layers": layers, **options})
        return plugin.build(parsed, meta, seed=seed, dtype=dtype)

    return make


def test_the_issue_example_builds_with_inferred_shapes_and_named_params(build):
    net = build(CONVNET, IMAGES, loss="softmax", reg=1e-3, weight_scale=1e-2)
    assert isinstance(net, SequentialNet)
    assert [(name, shape) for name, _, shape in net.layers] == [
        ("conv", (16, 8, 8)),
        ("relu", (16, 8, 8)),
        ("max_pool", (16, 4, 4)),
        ("affine", (100,)),
        ("relu", (100,)),
        ("affine", (10,)),
    ]
    assert {name: value.shape for name, value in net.params.items()} == {
        "0.conv.W": (16, 3, 3, 3),
        "0.conv.b": (16,),
        "3.affine.W": (256, 100),
        "3.affine.b": (100,),
        "5.affine.W": (100, 10),
        "5.affine.b": (10,),
    }
    assert (net.reg, net.loss_name, net.dtype) == (1e-3, "softmax", np.float32)
    scores = net.loss(np.zeros((2, 3, 8, 8)))
    assert scores.shape == (2, 10) and scores.dtype == np.float32


def test_it_equals_the_classic_two_layer_net(build):
    classic = TwoLayerNet(input_dim=6, hidden_dim=5, num_classes=3, reg=0.3, seed=0)
    layers = [{"name": "affine", "units": 5}, "relu", {"name": "affine", "units": 3}]
    net = build(layers, VECTORS, reg=0.3, dtype=np.float64)
    for ours, theirs in [("0.affine.W", "W1"), ("0.affine.b", "b1"), ("2.affine.W", "W2"), ("2.affine.b", "b2")]:
        net.params[ours] = classic.params[theirs].copy()
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((4, 6)), np.array([0, 2, 1, 2])
    loss, grads = net.loss(X, y)
    classic_loss, classic_grads = classic.loss(X, y)
    assert loss == pytest.approx(classic_loss, rel=1e-12)
    np.testing.assert_allclose(grads["0.affine.W"], classic_grads["W1"], rtol=1e-12)
    np.testing.assert_allclose(grads["2.affine.b"], classic_grads["b2"], rtol=1e-12)
    np.testing.assert_allclose(net.loss(X), classic.loss(X), rtol=1e-12)


@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_whole_net_gradients_match_numerical_ones(build, loss):
    layers = [
        {"name": "conv", "filters": 2, "kernel": 3, "pad": 1},
        {"name": "spatial_batchnorm"},
        "tanh",
        {"name": "max_pool", "size": 2},
        {"name": "affine", "units": 5},
        {"name": "dropout", "keep_ratio": 0.8, "seed": 1},
        "relu",
        {"name": "affine", "units": 3},
    ]
    meta = DatasetMeta("tiny", "classification", (1, 4, 4), num_classes=3)
    net = build(layers, meta, loss=loss, reg=0.1, weight_scale=0.5, dtype=np.float64)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((3, 1, 4, 4)), np.array([0, 1, 2])
    _, grads = net.loss(X, y)
    for name, param in net.params.items():
        numerical = eval_numerical_gradient(lambda _: net.loss(X, y)[0], param, verbose=False)
        # The conv bias before batchnorm has a gradient of exactly zero: there both sides are
        # round-off, which only an absolute tolerance can judge.
        np.testing.assert_allclose(grads[name], numerical, rtol=1e-6, atol=1e-9, err_msg=name)


def test_regression_uses_mse_and_the_solver_reports_rmse(build):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(4)

    def split(n):
        X = rng.standard_normal((n, 4)).astype(np.float32)
        return X, (X @ w).astype(np.float32)

    data = Dataset(TARGETS, *split(200), *split(50), *split(50))
    net = build([{"name": "affine", "units": 16}, "tanh", {"name": "affine", "units": 1}], TARGETS, weight_scale=0.3)
    assert net.loss_name == "mse"
    solver = Solver(net, data, update_rule="adam", optim_config={"learning_rate": 1e-2}, num_epochs=10,
                    batch_size=20, verbose=False, seed=0)  # fmt: skip
    solver.train()
    assert solver.best_val_rmse < 0.3 * solver.val_rmse_history[0]


def test_the_solver_trains_a_convnet_to_separate_image_blobs(build):
    meta = DatasetMeta("blobs", "classification", (1, 6, 6), num_classes=3)
    rng = np.random.default_rng(0)
    centres = 2 * rng.standard_normal((3, 1, 6, 6))

    def split(n):
        y = np.arange(n) % 3
        return (centres[y] + rng.standard_normal((n, 1, 6, 6))).astype(np.float32), y

    data = Dataset(meta, *split(90), *split(30), *split(30))
    layers = [{"name": "conv", "filters": 4, "kernel": 3, "pad": 1}, {"name": "spatial_batchnorm"}, "relu",
              {"name": "max_pool"}, {"name": "dropout", "keep_ratio": 0.9}, {"name": "affine", "units": 3}]  # fmt: skip
    solver = Solver(build(layers, meta, reg=1e-4), data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    num_epochs=5, batch_size=15, verbose=False, seed=0)  # fmt: skip
    solver.train()
    assert solver.best_val_acc >= 0.9


@pytest.mark.parametrize("seed", range(4))
def test_the_solver_restores_every_layers_state_of_the_best_epoch(build, seed):
    meta = DatasetMeta("blobs", "classification", (1, 6, 6), num_classes=3)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, 1, 6, 6))

    def split(n):
        y = np.arange(n) % 3
        return (centres[y] + 1.5 * rng.standard_normal((n, 1, 6, 6))).astype(np.float32), y

    data = Dataset(meta, *split(90), *split(60), *split(30))
    layers = [{"name": "conv", "filters": 4, "kernel": 3, "pad": 1}, "spatial_batchnorm", "relu", "flatten",
              {"name": "affine", "units": 8}, "batchnorm", "relu", {"name": "affine", "units": 3}]  # fmt: skip
    net = build(layers, meta, seed=seed)
    solver = Solver(net, data, update_rule="adam", optim_config={"learning_rate": 3e-2}, num_epochs=8,
                    batch_size=15, verbose=False, seed=seed)  # fmt: skip
    solver.train()
    assert sorted(net.state()) == [
        "1.spatial_batchnorm.running_mean", "1.spatial_batchnorm.running_var",
        "5.batchnorm.running_mean", "5.batchnorm.running_var",
    ]  # fmt: skip
    assert solver.check_accuracy(data.X_val, data.y_val) == solver.best_val_acc
    for name, value in solver.best_state.items():
        np.testing.assert_array_equal(net.state()[name], value)


def test_load_state_hands_each_layer_its_part_and_refuses_strangers(build):
    net = build([{"name": "affine", "units": 4}, "batchnorm", {"name": "affine", "units": 3}], VECTORS)
    net.load_state({"1.batchnorm.running_mean": np.ones(4), "1.batchnorm.running_var": np.full(4, 2.0)})
    np.testing.assert_array_equal(net.layers[1][1].bn_param["running_var"], np.full(4, 2.0))
    assert sorted(net.state()) == ["1.batchnorm.running_mean", "1.batchnorm.running_var"]
    for name in ("0.affine.running_mean", "1.affine.running_mean", "7.batchnorm.running_mean", "x", "1.batchnorm.w"):
        with pytest.raises(ValueError, match="no (layer )?state"):
            net.load_state({name: np.ones(4)})
    net.load_state({})
    assert net.state() == {}


def test_the_model_weight_scale_is_the_default_of_every_layer_with_weights(build):
    layers = [
        {"name": "affine", "units": 300},
        {"name": "affine", "units": 300, "weight_scale": 0.5},
        {"name": "affine", "units": 3},
    ]
    net = build(layers, VECTORS, weight_scale=1e-3)
    assert net.params["0.affine.W"].std() == pytest.approx(1e-3, rel=0.1)
    assert net.params["1.affine.W"].std() == pytest.approx(0.5, rel=0.1)
    he = build(layers, VECTORS).params["2.affine.W"].std()
    assert he == pytest.approx(np.sqrt(2 / 300), rel=0.2)


def test_every_build_gets_its_own_layer_instances_and_seeded_weights(build):
    first, second = build(CONVNET, IMAGES, seed=1), build(CONVNET, IMAGES, seed=1)
    assert first.layers[0][1] is not second.layers[0][1]
    for name in first.params:
        np.testing.assert_array_equal(first.params[name], second.params[name])
    assert not np.array_equal(build(CONVNET, IMAGES, seed=2).params["0.conv.W"], first.params["0.conv.W"])


def test_layers_are_resolved_in_the_given_registry_so_plugin_layers_work_by_name(builtin_registries):
    class Square(Layer):
        def forward(self, x, params, mode):
            return x * x, x

        def backward(self, dout, cache):
            return 2 * cache * dout, {}

    registry = Registry("layer")
    for component in builtin_registries.layers:
        registry.add(component.name, component.obj)
    registry.add("square", Square)
    options = SequentialPlugin.Options(
        layers=[{"name": "affine", "units": 4}, "square", {"name": "affine", "units": 3}]
    )
    net = SequentialPlugin(registry).build(options, VECTORS, seed=0)
    assert isinstance(net.layers[1][1], Square)


def test_the_default_registry_is_the_process_wide_one(fresh_plugin_state):
    options = SequentialPlugin.Options(layers=[{"name": "affine", "units": 3}])
    assert SequentialPlugin().build(options, VECTORS).params["0.affine.W"].shape == (6, 3)


# --------------------------------------------------------------------------- errors before training


@pytest.mark.parametrize(
    ("layers", "meta", "message"),
    [
        (["rleu", {"name": "affine", "units": 3}], VECTORS,
         r"^model.layers\[0\].name: unknown layer 'rleu'; did you mean 'relu'\? \(available: affine, "),
        ([{"units": 3}], VECTORS, r"^model.layers\[0\].name: missing: write a layer as `relu`"),
        (
            [{"name": "affine", "unit": 3}],
            VECTORS,
            r"^model.layers\[0\].unit: unknown key; did you mean 'units'\? \(expected one of: units, ",
        ),
        ([{"name": "conv", "filters": "many", "kernel": 3}], IMAGES,
         r"^model.layers\[0\].filters: Input should be a valid integer"),
        ([{"name": "affine", "units": -3}], VECTORS,
         r"^model.layers\[0\].units: Input should be greater than 0, got -3$"),
        ([{"name": "conv", "filters": 4, "kernel": 11}], IMAGES,
         r"^model.layers\[0\]: conv kernel 11x11 with pad 0 is larger than its input 3x8x8$"),
        ([{"name": "affine", "units": 20}, "relu", {"name": "conv", "filters": 2, "kernel": 3}], VECTORS,
         r"^model.layers\[2\]: conv expects input \(C, H, W\), got \(20,\)$"),
        ([{"name": "conv", "filters": 4, "kernel": 3}, "batchnorm", {"name": "affine", "units": 10}], IMAGES,
         r"^model.layers\[1\]: batchnorm expects input \(D,\), got \(4, 6, 6\); use spatial_batchnorm"),
        ([{"name": "affine", "units": 20}], IMAGES,
         r"^model.layers\[0\]: the last layer \(affine\) outputs \(20,\) but the 10 classes of 'tiny-images' need "
         r"\(10,\); end with \{name: affine, units: 10\}$"),
        ([{"name": "conv", "filters": 10, "kernel": 3, "pad": 1}], IMAGES,
         r"^model.layers\[0\]: the last layer \(conv\) outputs \(10, 8, 8\)"),
        ([{"name": "affine", "units": 2}], TARGETS,
         r"outputs \(2,\) but the 1 regression targets of 'line' need \(1,\)"),
    ],
)  # fmt: skip
def test_a_bad_stack_fails_at_build_with_a_one_line_config_error(build, layers, meta, message):
    with pytest.raises(ConfigError, match=message) as err:
        build(layers, meta)
    assert "\n" not in str(err.value)


def test_a_loss_that_does_not_suit_the_task_is_a_config_error(build):
    with pytest.raises(ConfigError, match=r"^model.loss: 'softmax' does not suit the regression data set 'line'"):
        build([{"name": "affine", "units": 1}], TARGETS, loss="softmax")


def test_options_need_at_least_one_layer():
    with pytest.raises(ConfigError, match=r"^model.layers: List should have at least 1 item"):
        validate_options(SequentialPlugin.Options, {"layers": []}, "model")


@pytest.mark.parametrize(
    ("layers", "meta"),
    [
        (CONVNET, IMAGES),
        (
            [
                {"name": "conv", "filters": 4, "kernel": 3, "stride": 2},
                {"name": "spatial_batchnorm"},
                {"name": "spatial_groupnorm", "groups": 2},
                "leaky_relu",
                {"name": "dropout", "keep_ratio": 0.5},
                "flatten",
                {"name": "affine", "units": 7},
                {"name": "batchnorm"},
                {"name": "layernorm"},
                "tanh",
                {"name": "affine", "units": 10},
            ],
            IMAGES,
        ),
        ([{"name": "affine", "units": 1}], TARGETS),
    ],
)
def test_count_params_is_the_number_of_parameters_build_makes(build, builtin_registries, layers, meta):
    plugin = SequentialPlugin(builtin_registries.layers)
    parsed = plugin.Options.model_validate({"layers": layers})
    net = build(layers, meta)
    assert plugin.count_params(parsed, meta) == sum(value.size for value in net.params.values())


def test_count_params_draws_shapes_not_weights(builtin_registries):
    plugin = SequentialPlugin(builtin_registries.layers)
    layers = [
        {"name": "affine", "units": 4_000_000},
        {"name": "affine", "units": 4_000_000},
        {"name": "affine", "units": 10},
    ]
    parsed = plugin.Options.model_validate({"layers": layers})
    tracemalloc.start()
    try:
        count = plugin.count_params(parsed, VECTORS)  # the weights alone would be 64 TB
        assert tracemalloc.get_traced_memory()[1] < 64 * 2**20  # the biases are zeros: lazily reserved
    finally:
        tracemalloc.stop()
    assert count == 7 * 4_000_000 + 4_000_001 * 4_000_000 + 4_000_001 * 10


@pytest.mark.parametrize(
    ("layer", "reason"),
    [
        ({"name": "conv", "filters": 1000, "kernel": 3, "pad": 1000}, r"conv outputs \(1000, 2006, 2006\) per sample"),
        ({"name": "affine", "units": 2**62}, "more values than numpy can index"),
    ],
)
def test_count_params_refuses_layers_no_machine_could_hold(builtin_registries, layer, reason):
    plugin = SequentialPlugin(builtin_registries.layers)
    parsed = plugin.Options.model_validate({"layers": [layer, {"name": "affine", "units": 10}]})
    with pytest.raises(ConfigError, match=reason) as info:
        plugin.count_params(parsed, IMAGES)
    assert info.value.field == "model.layers[0]"


def test_a_layer_that_does_more_than_draw_weights_is_not_counted(builtin_registries):
    class Lookup(Layer):
        def init_params(self, in_shape, rng, dtype):
            return {"table": np.asarray(rng.standard_normal((5, 3)))}, (3,)

        def forward(self, x, params, mode):
            return x, None

        def backward(self, dout, cache):
            return dout, {}

    layers = Registry("layer")
    for component in builtin_registries.layers:
        layers.add(component.name, component.obj)
    layers.add("lookup", Lookup)
    plugin = SequentialPlugin(layers)
    parsed = plugin.Options.model_validate({"layers": ["lookup", {"name": "affine", "units": 3}]})
    assert plugin.count_params(parsed, VECTORS) is None


# --------------------------------------------------------------------------- first-step checks


@pytest.fixture
def third_party(builtin_registries):
    """``build(layers)``: a SequentialNet on VECTORS; its registry adds the misbehaving layers as ``bad-layers 0.3``."""
    registry = Registry("layer")
    for component in builtin_registries.layers:
        registry.include(component)
    with registry.providing("bad-layers", "0.3", "bad"):
        for name, cls in misbehaving.LAYERS.items():
            registry.add(name, cls)
    plugin = SequentialPlugin(registry)

    def make(layers):
        return plugin.build(plugin.Options.model_validate({"layers": layers}), VECTORS, seed=0)

    return make


def _batch():
    rng = np.random.default_rng(1)
    return rng.standard_normal((4, 6)).astype(np.float32), np.array([0, 1, 2, 0])


def test_a_wrong_forward_shape_is_named_on_the_first_step_not_in_the_next_layer(third_party):
    net = third_party([{"name": "affine", "units": 9}, "truncate", {"name": "affine", "units": 3}])
    X, y = _batch()
    with pytest.raises(LayerContractError) as err:
        net.loss(X, y)
    assert str(err.value) == (
        "model.layers[1]: layer 'truncate' of plugin 'bad' (bad-layers 0.3): forward returned shape (4, 7) "
        "for input (4, 9); its init_params promised (N, *(9,)) (on the model's first step)"
    )
    with pytest.raises(LayerContractError, match=r"model.layers\[1\].*forward returned shape"):
        net.loss(X)  # test mode is checked on its own first call


def test_a_wrong_dx_shape_is_named(third_party):
    net = third_party(["bad_dx", {"name": "affine", "units": 3}])
    with pytest.raises(LayerContractError) as err:
        net.loss(*_batch())
    assert str(err.value) == (
        "model.layers[0]: layer 'bad_dx' of plugin 'bad' (bad-layers 0.3): backward returned dx of shape (4, 5) "
        "for an input of shape (4, 6) (on the model's first step)"
    )


def test_nan_from_finite_inputs_is_named_with_the_layer(third_party):
    net = third_party([{"name": "affine", "units": 5}, "log", {"name": "affine", "units": 3}])
    message = (
        r"^model.layers\[1\]: layer 'log' of plugin 'bad' \(bad-layers 0.3\): "
        r"forward returned NaN from finite inputs and parameters \(on the model.s first step\)$"
    )
    with pytest.raises(LayerContractError, match=message):
        net.loss(*_batch())


def test_non_finite_data_is_not_blamed_on_a_layer(third_party):
    net = third_party([{"name": "affine", "units": 5}, "relu", {"name": "affine", "units": 3}])
    X, y = _batch()
    X[0, 0] = np.nan
    loss, _ = net.loss(X, y)  # the Solver reports the non-finite loss as a divergence
    assert not np.isfinite(loss)


def test_builtin_layers_pass_their_first_step_and_later_steps_are_not_checked(third_party, monkeypatch):
    net = third_party([{"name": "affine", "units": 5}, "relu", {"name": "affine", "units": 3}])
    assert net.where[1] == f"model.layers[1]: layer 'relu' of sweepnet {__version__}"
    net.loss(*_batch())
    net.loss(_batch()[0])
    calls = []
    monkeypatch.setattr(FirstStep, "forward", lambda *args: calls.append(args))
    net.loss(*_batch())
    net.loss(_batch()[0])
    assert calls == []


def test_a_trial_fails_naming_the_layer_and_its_plugin(third_party, monkeypatch):
    """Through the Solver, as a trial trains: a FAILED trial whose last line names the layer."""
    net = third_party([{"name": "affine", "units": 9}, "truncate", {"name": "affine", "units": 3}])
    X, y = _batch()
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = Solver(net, data, num_epochs=1, batch_size=2, verbose=False)
    with pytest.raises(LayerContractError, match=r"model.layers\[1\]: layer 'truncate' of plugin 'bad'"):
        solver.train()
