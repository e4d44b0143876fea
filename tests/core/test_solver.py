"""Solver: histories, best parameters, callbacks, divergence, seeding, regression, checkpoints."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sweepnet.core import optim
from sweepnet.core.models import FullyConnectedNet
from sweepnet.core.solver import Solver


def _digits(num_train: int = 200, num_val: int = 100) -> dict[str, np.ndarray]:
    """scikit-learn's 8x8 digits, flat ``X: (N, 64)`` in [0, 1], labels ``y: (N,)``."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return {
        "X_train": X[:num_train],
        "y_train": y[:num_train],
        "X_val": X[num_train : num_train + num_val],
        "y_val": y[num_train : num_train + num_val],
    }


def _model(**kwargs: Any) -> FullyConnectedNet:
    return FullyConnectedNet([32], input_dim=64, num_classes=10, weight_scale=0.1, **kwargs)


def _solver(model: Any = None, data: Any = None, **kwargs: Any) -> Solver:
    options: dict[str, Any] = {
        "update_rule": "adam",
        "optim_config": {"learning_rate": 1e-2},
        "batch_size": 50,
        "num_epochs": 3,
        "verbose": False,
        "seed": 0,
    }
    return Solver(model or _model(seed=0), _digits() if data is None else data, **(options | kwargs))


def test_history_lengths() -> None:
    solver = _solver()  # 200 samples / batch 50 = 4 iterations per epoch
    solver.train()
    assert len(solver.loss_history) == 3 * 4
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 1 + 3
    assert solver.epoch == 3
    assert not solver.stopped_early and solver.diverged is None
    assert solver.train_rmse_history == []
    assert np.mean(solver.loss_history[-4:]) < solver.loss_history[0]


def test_best_params_are_restored_into_the_model() -> None:
    def adam_then_wipe(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None):
        # Learns for two epochs (4 iterations each), then zeroes the weights: a late collapse.
        config["calls"] = config.get("calls", 0) + 1
        return (np.zeros_like(w), config) if config["calls"] > 8 else optim.adam(w, dw, config)

    data = _digits()
    solver = _solver(data=data, update_rule=adam_then_wipe, num_epochs=4)
    solver.train()
    assert solver.best_val_acc == max(solver.val_acc_history) == solver.val_acc_history[2]
    assert solver.val_acc_history[-1] < solver.best_val_acc
    for name, value in solver.best_params.items():
        np.testing.assert_array_equal(solver.model.params[name], value)
        assert solver.model.params[name] is not value  # a copy: best_params stays put
    # num_val_samples=None measured the full split, so the restored model reproduces the best.
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc


def test_unknown_keyword_arguments_raise_naming_them() -> None:
    with pytest.raises(ValueError, match="learning_rate.*momentum|momentum.*learning_rate"):
        _solver(learning_rate=1e-3, momentum=0.9)
    with pytest.raises(ValueError, match="update_rule 'adamw'.*sgd"):
        _solver(update_rule="adamw")
    with pytest.raises(ValueError, match="task"):
        _solver(task="ranking")
    with pytest.raises(ValueError, match="seed or rng"):
        _solver(rng=np.random.default_rng(0))


def test_update_rule_by_name_or_callable_with_per_parameter_configs() -> None:
    calls: list[str] = []

    def halving(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None):
        calls.append(config["tag"])
        config["seen"] = config.get("seen", 0) + 1
        return w - 0.5 * config["learning_rate"] * dw, config

    optim_config = {"learning_rate": 1e-2, "tag": "x"}
    solver = _solver(update_rule=halving, optim_config=optim_config, num_epochs=1)
    solver.train()
    assert optim_config == {"learning_rate": 1e-2, "tag": "x"}  # the caller's dict is untouched
    assert len(calls) == 4 * len(solver.model.params)
    configs = list(solver.optim_configs.values())
    assert all(c["seen"] == 4 for c in configs) and configs[0] is not configs[1]
    assert _solver(update_rule="sgd_momentum").update_rule is optim.UPDATE_RULES["sgd_momentum"]


def test_epoch_callback_gets_metrics_and_can_stop_training() -> None:
    reports: list[tuple[int, dict[str, float]]] = []

    def prune_at_two(epoch: int, metrics: dict[str, float]) -> bool:
        reports.append((epoch, metrics))
        return epoch == 2

    solver = _solver(num_epochs=5, lr_decay=0.5, epoch_callback=prune_at_two)
    solver.train()
    assert solver.stopped_early
    assert [epoch for epoch, _ in reports] == [1, 2]
    assert len(solver.val_acc_history) == 3 and len(solver.loss_history) == 2 * 4
    first, second = reports[0][1], reports[1][1]
    assert set(first) == {"loss", "train_acc", "val_acc", "lr"}
    assert first["lr"] == 1e-2 and second["lr"] == 5e-3  # the rate used during each epoch
    assert first["loss"] == pytest.approx(np.mean(solver.loss_history[:4]))
    assert (first["train_acc"], first["val_acc"]) == (solver.train_acc_history[1], solver.val_acc_history[1])


def test_huge_learning_rate_diverges_and_keeps_the_best_params() -> None:
    solver = _solver(update_rule="sgd", optim_config={"learning_rate": 1e6}, num_epochs=5, divergence_factor=100)
    initial = {name: value.copy() for name, value in solver.model.params.items()}
    solver.train()
    assert solver.diverged is not None and "iteration" in solver.diverged
    assert len(solver.loss_history) < 5 * 4
    assert len(solver.val_acc_history) < 1 + 5
    for name, value in solver.model.params.items():
        assert np.all(np.isfinite(value))
        np.testing.assert_array_equal(value, solver.best_params[name])
        if not solver.val_acc_history:  # diverged before the first measurement: back to the start
            np.testing.assert_array_equal(value, initial[name])


def test_non_finite_loss_is_divergence() -> None:
    data = _digits()
    data["X_train"] = data["X_train"].copy()
    data["X_train"][:] = np.nan
    solver = _solver(data=data)
    solver.train()
    assert solver.diverged is not None and "non-finite" in solver.diverged
    assert len(solver.loss_history) == 1


def _history(seed: int) -> tuple[list[float], list[float]]:
    model = FullyConnectedNet(
        [32], input_dim=64, num_classes=10, weight_scale=0.1, dropout_keep_ratio=0.8, rng=np.random.default_rng(seed)
    )
    solver = _solver(model, seed=seed, num_train_samples=50)
    solver.train()
    return solver.loss_history, solver.train_acc_history


def test_same_seed_same_history_whatever_the_global_state() -> None:
    np.random.seed(0)
    first = _history(1)
    np.random.seed(12345)
    np.random.random(100)
    assert _history(1) == first
    assert _history(2) != first


def test_rng_argument_drives_sampling() -> None:
    def losses(rng: np.random.Generator) -> list[float]:
        solver = _solver(_model(seed=0), seed=None, rng=rng, num_epochs=1)
        solver.train()
        return solver.loss_history

    assert losses(np.random.default_rng(4)) == losses(np.random.default_rng(4))
    assert losses(np.random.default_rng(4)) != losses(np.random.default_rng(5))


def _classic_train(
    model: Any,
    data: dict[str, np.ndarray],
    learning_rate: float,
    batch_size: int,
    num_epochs: int,
    lr_decay: float,
    num_train_samples: int,
) -> dict[str, list[float]]:
    """The classic CS231n ``Solver.train`` with plain SGD, written out: the independent reference."""

    def accuracy(X: np.ndarray, y: np.ndarray, num_samples: int | None) -> float:
        if num_samples is not None and X.shape[0] > num_samples:
            mask = np.random.choice(X.shape[0], num_samples)
            X, y = X[mask], y[mask]
        return float(np.mean(np.argmax(model.loss(X), axis=1) == y))

    num_train = data["X_train"].shape[0]
    per_epoch = max(num_train // batch_size, 1)
    history: dict[str, list[float]] = {"loss": [], "train": [], "val": []}
    for t in range(num_epochs * per_epoch):
        batch = np.random.choice(num_train, batch_size)
        loss, grads = model.loss(data["X_train"][batch], data["y_train"][batch])
        history["loss"].append(float(loss))
        for name in model.params:
            model.params[name] = model.params[name] - learning_rate * grads[name]
        epoch_end = (t + 1) % per_epoch == 0
        if epoch_end:
            learning_rate *= lr_decay
        if t == 0 or epoch_end:
            history["train"].append(accuracy(data["X_train"], data["y_train"], num_train_samples))
            history["val"].append(accuracy(data["X_val"], data["y_val"], None))
    return history


def test_without_a_seed_it_replays_the_classic_loop_on_the_global_state(capsys: pytest.CaptureFixture[str]) -> None:
    data = _digits()
    options = {"learning_rate": 0.5, "batch_size": 50, "num_epochs": 3, "lr_decay": 0.9, "num_train_samples": 60}
    np.random.seed(231)
    expected = _classic_train(_model(), data, **options)
    np.random.seed(231)
    solver = Solver(
        _model(),
        data,
        update_rule="sgd",
        optim_config={"learning_rate": 0.5},
        lr_decay=0.9,
        batch_size=50,
        num_epochs=3,
        num_train_samples=60,
        print_every=100,
    )
    solver.train()
    assert solver.loss_history == expected["loss"]
    assert solver.train_acc_history == expected["train"] and solver.val_acc_history == expected["val"]
    # As in the classic loop, "epoch 0" is measured (and printed) after the first iteration.
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"(Iteration 1 / 12) loss: {expected['loss'][0]:f}",
        f"(Epoch 0 / 3) train acc: {expected['train'][0]:f}; val_acc: {expected['val'][0]:f}",
    ]


def test_one_iteration_per_epoch_measures_once_per_epoch_as_the_classic_loop() -> None:
    solver = _solver(batch_size=200, num_epochs=3)  # 200 samples: the first iteration ends epoch 1
    solver.train()
    assert len(solver.loss_history) == 3 and len(solver.val_acc_history) == 3


def test_a_loss_jump_stops_training_only_with_a_divergence_factor() -> None:
    options = {"update_rule": "sgd", "optim_config": {"learning_rate": 30.0}, "num_epochs": 2}
    solver = _solver(**options)
    solver.train()
    assert max(solver.loss_history) > 100 * solver.loss_history[0]  # the loss explodes but stays finite
    assert solver.diverged is None and len(solver.loss_history) == 2 * 4  # the classic loop carries on
    solver = _solver(**options, divergence_factor=100)
    solver.train()
    assert "exceeds 100 times the first loss" in solver.diverged and len(solver.loss_history) < 2 * 4


def test_regression_tracks_rmse() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8))
    y = X @ rng.standard_normal(8) + 0.5
    data = {"X_train": X[:200], "y_train": y[:200], "X_val": X[200:], "y_val": y[200:]}
    model = FullyConnectedNet([16], input_dim=8, num_classes=1, loss="mse", weight_scale=0.1, seed=0)
    reports: list[dict[str, float]] = []
    solver = _solver(model, data, num_epochs=10, epoch_callback=lambda epoch, metrics: reports.append(metrics))
    solver.train()
    assert solver.task == "regression"
    assert len(solver.train_rmse_history) == len(solver.val_rmse_history) == 11
    assert solver.val_acc_history == []
    assert set(reports[0]) == {"loss", "train_rmse", "val_rmse", "lr"}
    assert solver.best_val_rmse == min(solver.val_rmse_history) < 0.5 * solver.val_rmse_history[0]
    predictions = model.loss(data["X_val"])[:, 0]
    expected = np.sqrt(np.mean((predictions - data["y_val"]) ** 2))
    assert solver.check_rmse(data["X_val"], data["y_val"]) == pytest.approx(expected, rel=1e-6)
    assert solver.check_rmse(data["X_val"], data["y_val"]) == pytest.approx(solver.best_val_rmse, rel=1e-6)


def test_explicit_task_overrides_the_model() -> None:
    assert _solver(task="regression").task == "regression"
    assert _solver().task == "classification"


def test_verbose_lines_keep_the_classic_format(capsys: pytest.CaptureFixture[str]) -> None:
    _solver(verbose=True, print_every=2, num_epochs=2).train()
    lines = capsys.readouterr().out.splitlines()
    iteration = re.compile(r"\(Iteration (\d+) / 8\) loss: \d+\.\d{6}$")
    epoch = re.compile(r"\(Epoch (\d) / 2\) train acc: \d\.\d{6}; val_acc: \d\.\d{6}$")
    assert [m[1] for m in map(iteration.match, lines) if m] == ["1", "3", "5", "7"]
    assert [m[1] for m in map(epoch.match, lines) if m] == ["0", "1", "2"]
    assert len(lines) == 4 + 3


def test_check_accuracy_subsamples_without_the_global_state() -> None:
    data = _digits()
    solver = _solver(data=data)
    accuracy = solver.check_accuracy(data["X_val"], data["y_val"], num_samples=30, batch_size=7)
    assert accuracy * 30 == pytest.approx(round(accuracy * 30))  # an average over exactly 30 samples
    state = np.random.get_state()[1].copy()
    solver.check_accuracy(data["X_val"], data["y_val"], num_samples=30)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_dataset_object_with_attributes_and_float32_model() -> None:
    data = SimpleNamespace(**_digits())  # read-only float64 splits, as sweepnet.data provides
    for array in vars(data).values():
        array.flags.writeable = False
    solver = _solver(data=data, num_epochs=1)
    solver.train()
    assert all(value.dtype == np.float32 for value in solver.model.params.values())


def test_checkpoints_are_npz_without_pickle(tmp_path: Any) -> None:
    solver = _solver(update_rule="sgd_momentum", num_epochs=2, checkpoint_name=str(tmp_path / "run"))
    solver.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"run_epoch_{e}.npz" for e in range(3)]
    with np.load(tmp_path / "run_epoch_2.npz", allow_pickle=False) as checkpoint:
        assert str(checkpoint["update_rule"]) == "sgd_momentum"
        assert int(checkpoint["epoch"]) == 2 and int(checkpoint["num_val_samples"]) == -1
        np.testing.assert_array_equal(checkpoint["loss_history"], solver.loss_history)
        np.testing.assert_array_equal(checkpoint["val_acc_history"], solver.val_acc_history)
        np.testing.assert_array_equal(checkpoint["optim/W1/velocity"], solver.optim_configs["W1"]["velocity"])
        assert checkpoint["params/W1"].shape == (64, 32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_three_layer_net_overfits_50_digits_within_20_epochs(seed: int) -> None:
    data = _digits(num_train=50, num_val=200)
    model = FullyConnectedNet([100, 100], input_dim=64, num_classes=10, weight_scale=0.1, seed=seed)
    solver = _solver(model, data, optim_config={"learning_rate": 1e-2}, batch_size=10, num_epochs=20, seed=seed)
    solver.train()
    assert max(solver.train_acc_history) == 1.0
