"""A model's state (batchnorm running statistics) is snapshot and restored with its best parameters.

The invariant the Solver keeps: right after ``train()``, re-scoring the validation split gives
exactly ``best_val_acc`` (``best_val_rmse`` for regression), whatever epoch was the best.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sweepnet.core.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)
from sweepnet.core.model_state import load_model_state, model_state
from sweepnet.core.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from sweepnet.core.solver import Solver

SEEDS = range(12)  # with the last epoch's statistics, 5 of these classification runs (6 regression) score differently


def _digits(regression: bool = False) -> dict[str, np.ndarray]:
    """200 training and 100 validation digits, ``X: (N, 64)`` in [0, 1]; float targets for regression."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    y = y.astype(np.float64) if regression else y
    return {"X_train": X[:200], "y_train": y[:200], "X_val": X[200:300], "y_val": y[200:300]}


class NotebookNet:
    """A model written the CS231n notebook way: affine - batchnorm - relu - affine - softmax,
    its running statistics in ``self.bn_params`` (one dict per normalised layer)."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": 0.1 * rng.standard_normal((64, 32)),
            "b1": np.zeros(32),
            "gamma1": np.ones(32),
            "beta1": np.zeros(32),
            "W2": 0.1 * rng.standard_normal((32, 10)),
            "b2": np.zeros(10),
        }
        self.bn_params = [{"mode": "train"}]

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        p = self.params
        self.bn_params[0]["mode"] = "test" if y is None else "train"
        a, affine_cache = affine_forward(X, p["W1"], p["b1"])
        normed, bn_cache = batchnorm_forward(a, p["gamma1"], p["beta1"], self.bn_params[0])
        hidden, relu_cache = relu_forward(normed)
        scores, scores_cache = affine_forward(hidden, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads: dict[str, np.ndarray] = {}
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, scores_cache)
        dnormed = relu_backward(dhidden, relu_cache)
        da, grads["gamma1"], grads["beta1"] = batchnorm_backward_alt(dnormed, bn_cache)
        _, grads["W1"], grads["b1"] = affine_backward(da, affine_cache)
        return loss, grads


def _batchnorm_net(seed: int) -> FullyConnectedNet:
    return FullyConnectedNet(
        [32, 32], input_dim=64, num_classes=10, weight_scale=0.1, normalization="batchnorm", seed=seed
    )


def _train(model: Any, data: dict[str, np.ndarray], seed: int, **kwargs: Any) -> tuple[Solver, dict[str, np.ndarray]]:
    """Train ``model``; returns the Solver and the state the model had after its last epoch."""
    last: dict[str, np.ndarray] = {}
    solver = Solver(
        model, data, update_rule="adam", optim_config={"learning_rate": 1e-2}, batch_size=50, num_epochs=6,
        verbose=False, seed=seed, epoch_callback=lambda epoch, metrics: last.update(model_state(model)), **kwargs,
    )  # fmt: skip
    solver.train()
    return solver, last


@pytest.mark.parametrize("seed", SEEDS)
def test_after_train_the_model_rescores_best_val_acc_exactly(seed: int) -> None:
    data = _digits()
    solver, _ = _train(model := _batchnorm_net(seed), data, seed)
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc
    statistics = [f"bn_params.{i}.{key}" for i in (0, 1) for key in ("running_mean", "running_var")]
    assert sorted(solver.best_state) == statistics
    for name, value in model_state(model).items():
        np.testing.assert_array_equal(value, solver.best_state[name])


@pytest.mark.parametrize("seed", SEEDS)
def test_after_train_a_regression_model_rescores_best_val_rmse_exactly(seed: int) -> None:
    data = _digits(regression=True)
    model = FullyConnectedNet(
        [32, 32], input_dim=64, num_classes=1, weight_scale=0.1, normalization="batchnorm", seed=seed, loss="mse"
    )
    solver, _ = _train(model, data, seed)
    assert solver.check_rmse(data["X_val"], data["y_val"]) == solver.best_val_rmse


def test_the_last_epochs_statistics_would_not_reproduce_it() -> None:
    """What the invariant guards against: with the best weights but the last epoch's statistics,
    these seeded runs score differently (so the tests above would fail without the state)."""
    data = _digits()
    differ = 0
    for seed in SEEDS:
        solver, last = _train(model := _batchnorm_net(seed), data, seed)
        load_model_state(model, last)
        differ += solver.check_accuracy(data["X_val"], data["y_val"]) != solver.best_val_acc
    assert differ >= 3


@pytest.mark.parametrize("seed", SEEDS)
def test_a_notebook_model_with_bn_params_gets_its_best_statistics_back(seed: int) -> None:
    data = _digits()
    solver, last = _train(NotebookNet(seed), data, seed)
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc
    assert sorted(solver.best_state) == ["bn_params.0.running_mean", "bn_params.0.running_var"]


def test_the_snapshot_is_a_copy_and_restoring_replaces_every_statistic() -> None:
    model = FullyConnectedNet([8], input_dim=4, num_classes=3, normalization="batchnorm", dtype=np.float64, seed=0)
    assert model_state(model) == {}  # no running statistics before the first training step
    before = model_state(model)
    model.loss(np.random.default_rng(0).standard_normal((5, 4)), np.array([0, 1, 2, 0, 1]))
    snapshot = model_state(model)
    assert sorted(snapshot) == ["bn_params.0.running_mean", "bn_params.0.running_var"]
    model.loss(np.random.default_rng(1).standard_normal((5, 4)), np.array([0, 1, 2, 0, 1]))  # updates in place
    assert not np.array_equal(model.bn_params[0]["running_mean"], snapshot["bn_params.0.running_mean"])
    load_model_state(model, snapshot)
    np.testing.assert_array_equal(model.bn_params[0]["running_mean"], snapshot["bn_params.0.running_mean"])
    assert model.bn_params[0]["running_mean"] is not snapshot["bn_params.0.running_mean"]
    load_model_state(model, before)  # back to before training: the statistics go
    assert model_state(model) == {} and model.bn_params[0]["mode"] == "train"


def test_state_names_the_model_does_not_have_raise() -> None:
    model = FullyConnectedNet([8], input_dim=4, num_classes=3, normalization="batchnorm", seed=0)
    for name in ("bn_params.1.running_mean", "running_mean", "bn_params.x.running_mean", "bn_params.0"):
        with pytest.raises(ValueError, match="FullyConnectedNet has no state"):
            load_model_state(model, {name: np.zeros(8)})


def test_models_without_state_have_none() -> None:
    for model in (TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2, seed=0),
                  ThreeLayerConvNet(input_dim=(1, 4, 4), num_filters=2, filter_size=3, hidden_dim=3, seed=0),
                  FullyConnectedNet([8], input_dim=4, normalization="layernorm", seed=0)):  # fmt: skip
        assert model_state(model) == {}
        load_model_state(model, {})
    with pytest.raises(ValueError, match="TwoLayerNet has no state"):
        load_model_state(TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2, seed=0), {"x": np.zeros(1)})


def test_a_model_naming_its_own_state_is_asked_for_it() -> None:
    class Counting:
        def __init__(self) -> None:
            self.loaded: dict[str, np.ndarray] = {}

        def state(self) -> dict[str, np.ndarray]:
            return {"count": np.array([3.0])}

        def load_state(self, state: dict[str, np.ndarray]) -> None:
            self.loaded = state

    model = Counting()
    snapshot = model_state(model)
    assert snapshot == {"count": np.array([3.0])}
    load_model_state(model, snapshot)
    assert model.loaded == snapshot and model.loaded["count"] is not snapshot["count"]


def test_checkpoints_hold_the_state(tmp_path: Any) -> None:
    model = FullyConnectedNet([16], input_dim=64, num_classes=10, weight_scale=0.1, normalization="batchnorm", seed=0)
    Solver(model, _digits(), num_epochs=1, batch_size=50, verbose=False, seed=0,
           checkpoint_name=str(tmp_path / "run")).train()  # fmt: skip
    with np.load(tmp_path / "run_epoch_1.npz", allow_pickle=False) as checkpoint:
        assert {"state/bn_params.0.running_mean", "state/bn_params.0.running_var", "params/gamma1"} <= set(checkpoint)
