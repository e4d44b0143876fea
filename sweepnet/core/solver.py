"""The classic CS231n ``Solver``: minibatch SGD training of a model with an update rule.

The training loop is the classic one, step for step: without a ``seed``/``rng`` it samples from
the global ``np.random`` state exactly as the classic code does, so a notebook's
``np.random.seed(231)`` reproduces its printed histories. Beyond the classic API it takes a
``seed``/``rng`` (all sampling from a ``np.random.Generator``, independent of the global state),
an ``epoch_callback`` that can stop training (the sweep's pruners), divergence detection, and a
task-appropriate metric: accuracy for classification, RMSE (lower is better) for regression.

Example::

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, num_epochs=10, batch_size=100, print_every=100, seed=0)
    solver.train()
    print(solver.best_val_acc)
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sweepnet.core import optim
from sweepnet.core.model_state import load_model_state, model_state

__all__ = ["EpochCallback", "Solver"]

EpochCallback = Callable[[int, dict[str, float]], bool | None]
"""``epoch_callback(epoch, metrics) -> stop``; returning True stops training."""

_TASKS = ("classification", "regression")


class Solver:
    """Train a model with minibatch gradient descent and keep the best parameters.

    Parameters
    ----------
    model : object with ``params`` (dict name -> array) and ``loss(X, y=None)``, which returns
        scores ``(N, C)`` when ``y`` is None and ``(loss, grads)`` otherwise, ``grads`` keyed
        like ``params``.
    data : mapping (or object with attributes) holding ``X_train: (N_train, ...)``,
        ``y_train: (N_train,)``, ``X_val: (N_val, ...)``, ``y_val: (N_val,)``.
    update_rule : name in ``optim.UPDATE_RULES`` (default ``"sgd"``) or an update rule
        ``update(w, dw, config) -> (next_w, config)``.
    optim_config : hyperparameters of the update rule; each parameter gets its own deep copy.
    lr_decay : factor applied to the learning rate after each epoch (1.0).
    batch_size : minibatch size (100).
    num_epochs : number of epochs (10).
    num_train_samples : training samples used to measure the training metric (1000; None: all).
    num_val_samples : validation samples used to measure the validation metric (None: all).
    checkpoint_name : when set, ``{checkpoint_name}_epoch_{epoch}.npz`` is written after each
        evaluation (no pickle inside).
    print_every : print the loss every this many iterations when verbose (10).
    verbose : print progress (True).
    seed, rng : seed of, or the ``np.random.Generator`` for, minibatch and evaluation sampling
        (give at most one; with neither the global ``np.random`` state is used, as in the classic code).
    epoch_callback : ``f(epoch, metrics) -> bool | None``, called after each completed epoch with
        ``{"loss", "train_acc", "val_acc", "lr"}`` (regression: ``"train_rmse"``, ``"val_rmse"``);
        returning True stops training and sets ``stopped_early``.
    divergence_factor : training also stops when the loss exceeds this multiple of the first
        iteration's loss (None, the default, as in the classic code: never); a non-finite loss
        always stops it.
    task : ``"classification"`` or ``"regression"``; by default regression exactly when the
        model's ``loss_name`` is ``"mse"``.

    Attributes
    ----------
    loss_history : training loss of every iteration.
    train_acc_history, val_acc_history : accuracy after the first iteration ("epoch 0") and after
        each epoch, as in the classic loop (classification); ``train_rmse_history``,
        ``val_rmse_history`` for regression.
    best_val_acc / best_val_rmse, best_params : the best validation result and its parameters,
        copied into ``model.params`` when training ends.
    best_state : the model's state at that evaluation (batchnorm running statistics, see
        :mod:`sweepnet.core.model_state`), restored with the parameters: afterwards
        ``check_accuracy(X_val, y_val) == best_val_acc`` (``check_rmse`` and ``best_val_rmse``
        for regression) when every validation sample is scored (``num_val_samples=None``).
    stopped_early : True when ``epoch_callback`` stopped training.
    diverged : reason training diverged, or None.
    """

    def __init__(self, model: Any, data: Mapping[str, np.ndarray] | Any, **kwargs: Any) -> None:
        self.model = model
        self.X_train, self.y_train, self.X_val, self.y_val = (
            _split(data, name) for name in ("X_train", "y_train", "X_val", "y_val")
        )
        self.update_rule_name, self.update_rule = _resolve_update_rule(kwargs.pop("update_rule", "sgd"))
        self.optim_config: dict[str, Any] = kwargs.pop("optim_config", {})
        self.lr_decay: float = kwargs.pop("lr_decay", 1.0)
        self.batch_size: int = kwargs.pop("batch_size", 100)
        self.num_epochs: int = kwargs.pop("num_epochs", 10)
        self.num_train_samples: int | None = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples: int | None = kwargs.pop("num_val_samples", None)
        self.checkpoint_name: str | None = kwargs.pop("checkpoint_name", None)
        self.print_every: int = kwargs.pop("print_every", 10)
        self.verbose: bool = kwargs.pop("verbose", True)
        self.epoch_callback: EpochCallback | None = kwargs.pop("epoch_callback", None)
        self.divergence_factor: float | None = kwargs.pop("divergence_factor", None)
        self.task: str = kwargs.pop("task", None) or _model_task(model)
        seed, rng = kwargs.pop("seed", None), kwargs.pop("rng", None)
        if kwargs:
            raise ValueError(f"Solver: unrecognized arguments: {', '.join(sorted(kwargs))}")
        if self.task not in _TASKS:
            raise ValueError(f"Solver: task must be one of {_TASKS}, got {self.task!r}")
        if seed is not None and rng is not None:
            raise ValueError("Solver: give seed or rng, not both")
        if self.batch_size < 1 or self.num_epochs < 0:
            raise ValueError(
                f"Solver: need batch_size >= 1 and num_epochs >= 0, got {self.batch_size} and {self.num_epochs}"
            )
        self.rng: np.random.Generator | None = rng if seed is None else np.random.default_rng(seed)
        self._reset()

    def _reset(self) -> None:
        """Set up the bookkeeping of a fresh training run."""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_val_rmse = math.inf
        self.best_params: dict[str, np.ndarray] = {}
        self.best_state: dict[str, np.ndarray] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.train_rmse_history: list[float] = []
        self.val_rmse_history: list[float] = []
        self.stopped_early = False
        self.diverged: str | None = None
        self._iterations_per_epoch = max(self.X_train.shape[0] // self.batch_size, 1)
        self.optim_configs = {name: copy.deepcopy(self.optim_config) for name in self.model.params}

    def _step(self) -> float:
        """Sample a minibatch, compute the loss and gradients, update every parameter.

        No update is made when the loss diverges; ``diverged`` says why. Returns the loss.
        """
        batch = self._draw(self.X_train.shape[0], self.batch_size)
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        loss = float(loss)
        self.loss_history.append(loss)
        self.diverged = self._divergence(loss)
        if self.diverged is None:
            params, configs = self.model.params, self.optim_configs
            for name, w in params.items():
                params[name], configs[name] = self.update_rule(w, grads[name], configs[name])
        return loss

    def _divergence(self, loss: float) -> str | None:
        """Why ``loss`` (the latest iteration's) means training diverged, or None."""
        iteration = len(self.loss_history)
        if not math.isfinite(loss):
            return f"non-finite loss {loss} at iteration {iteration}"
        first = self.loss_history[0]
        if self.divergence_factor is not None and first > 0 and loss > self.divergence_factor * first:
            return (
                f"loss {loss:.6g} at iteration {iteration} exceeds {self.divergence_factor:g} "
                f"times the first loss {first:.6g}"
            )
        return None

    def train(self) -> None:
        """Run the optimisation, then restore the best parameters (into ``model.params``) and state.

        As in the classic loop, the metric is measured after the first iteration and at the end
        of every epoch, where the learning rate decays and ``epoch_callback`` may stop training.
        """
        self._keep_best()
        per_epoch = self._iterations_per_epoch
        num_iterations = self.num_epochs * per_epoch
        epoch_losses: list[float] = []
        for t in range(num_iterations):
            epoch_losses.append(self._step())
            if self.verbose and t % self.print_every == 0:
                print(f"(Iteration {t + 1} / {num_iterations}) loss: {epoch_losses[-1]:f}")
            if self.diverged:
                if self.verbose:
                    print(f"(Iteration {t + 1} / {num_iterations}) diverged: {self.diverged}")
                break
            if (t + 1) % per_epoch:  # within an epoch
                if t == 0:
                    self._evaluate()  # the classic "epoch 0", after the first iteration
                continue
            learning_rate = self._learning_rate()  # the rate this epoch ran with, before it decays
            self.epoch += 1
            for config in self.optim_configs.values():
                if "learning_rate" in config:
                    config["learning_rate"] *= self.lr_decay
            metrics = {"loss": float(np.mean(epoch_losses)), **self._evaluate(), **learning_rate}
            epoch_losses = []
            if self.epoch_callback is not None and self.epoch_callback(self.epoch, metrics):
                self.stopped_early = True
                break
        self.model.params.update(_copy_params(self.best_params))
        load_model_state(self.model, self.best_state)

    def _keep_best(self) -> None:
        """Copy the model's current parameters and state as the best ones."""
        self.best_params = _copy_params(self.model.params)
        self.best_state = model_state(self.model)

    def _learning_rate(self) -> dict[str, float]:
        """``{"lr": learning rate}`` of the epoch just run, or ``{}`` for a rule without one."""
        config = next(iter(self.optim_configs.values()), {})
        return {"lr": float(config["learning_rate"])} if "learning_rate" in config else {}

    def _evaluate(self) -> dict[str, float]:
        """Measure the task metric on both splits, record it, keep the best params, checkpoint."""
        if self.task == "classification":
            name = "acc"
            train = self.check_accuracy(self.X_train, self.y_train, num_samples=self.num_train_samples)
            val = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
            self.train_acc_history.append(train)
            self.val_acc_history.append(val)
            improved = val > self.best_val_acc
            if improved:
                self.best_val_acc = val
        else:
            name = "rmse"
            train = self.check_rmse(self.X_train, self.y_train, num_samples=self.num_train_samples)
            val = self.check_rmse(self.X_val, self.y_val, num_samples=self.num_val_samples)
            self.train_rmse_history.append(train)
            self.val_rmse_history.append(val)
            improved = val < self.best_val_rmse
            if improved:
                self.best_val_rmse = val
        if improved:
            self._keep_best()
        self._save_checkpoint()
        if self.verbose:
            print(f"(Epoch {self.epoch} / {self.num_epochs}) train {name}: {train:f}; val_{name}: {val:f}")
        return {f"train_{name}": train, f"val_{name}": val}

    def _predict(
        self, X: np.ndarray, y: np.ndarray, num_samples: int | None, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Model outputs ``(n, C)`` on (a random subsample of ``num_samples`` of) ``X``, with its ``y``."""
        if num_samples is not None and X.shape[0] > num_samples:
            subset = self._draw(X.shape[0], num_samples)
            X, y = X[subset], y[subset]
        outputs = [self.model.loss(X[start : start + batch_size]) for start in range(0, X.shape[0], batch_size)]
        return np.concatenate(outputs), y

    def _draw(self, n: int, size: int) -> np.ndarray:
        """``size`` random indices below ``n``, with replacement, as the classic ``np.random.choice(n, size)``."""
        return (np.random if self.rng is None else self.rng).choice(n, size)

    def check_accuracy(
        self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None, batch_size: int = 100
    ) -> float:
        """Classification accuracy of the model.

        Parameters
        ----------
        X : (N, d_1, ..., d_k) inputs.
        y : (N,) integer labels.
        num_samples : evaluate on a random subsample of this many samples (None: all).
        batch_size : samples per forward pass.
        """
        scores, y = self._predict(X, y, num_samples, batch_size)
        return float(np.mean(np.argmax(scores, axis=1) == y))

    def check_rmse(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None, batch_size: int = 100) -> float:
        """Root mean squared error of the model's predictions (regression).

        Parameters
        ----------
        X : (N, d_1, ..., d_k) inputs.
        y : (N,) or (N, K) targets.
        num_samples : evaluate on a random subsample of this many samples (None: all).
        batch_size : samples per forward pass.
        """
        predictions, y = self._predict(X, y, num_samples, batch_size)
        errors = predictions.astype(np.float64) - np.reshape(y, predictions.shape)
        return float(np.sqrt(np.mean(errors**2)))

    def _save_checkpoint(self) -> None:
        """Write ``{checkpoint_name}_epoch_{epoch}.npz`` (atomically) when checkpointing is on.

        Keys: ``params/<name>``, ``state/<name>`` (the model's state, e.g. batchnorm running
        statistics), ``optim/<name>/<key>`` and the classic scalars and histories.
        """
        if self.checkpoint_name is None:
            return
        arrays: dict[str, Any] = {
            "update_rule": self.update_rule_name,
            "lr_decay": self.lr_decay,
            "batch_size": self.batch_size,
            "num_train_samples": -1 if self.num_train_samples is None else self.num_train_samples,
            "num_val_samples": -1 if self.num_val_samples is None else self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": np.asarray(self.loss_history, dtype=np.float64),
        }
        metric = "acc" if self.task == "classification" else "rmse"
        for split in ("train", "val"):
            key = f"{split}_{metric}_history"
            arrays[key] = np.asarray(getattr(self, key), dtype=np.float64)
        arrays.update({f"params/{name}": w for name, w in self.model.params.items()})
        arrays.update({f"state/{name}": value for name, value in model_state(self.model).items()})
        for name, config in self.optim_configs.items():
            arrays.update({f"optim/{name}/{key}": value for key, value in config.items()})
        arrays = {key: np.asarray(value) for key, value in arrays.items()}
        if any(value.dtype == object for value in arrays.values()):
            # savez would silently pickle object arrays, which a safe loader then refuses.
            bad = sorted(key for key, value in arrays.items() if value.dtype == object)
            raise ValueError(f"Solver checkpoint: not numeric, cannot be saved without pickle: {', '.join(bad)}")
        path = f"{self.checkpoint_name}_epoch_{self.epoch}.npz"
        with open(f"{path}.tmp", "wb") as f:
            np.savez(f, **arrays)
        os.replace(f"{path}.tmp", path)


def _split(data: Mapping[str, np.ndarray] | Any, name: str) -> np.ndarray:
    """``data[name]`` for a mapping (the classic dict), ``data.name`` otherwise (a ``Dataset``)."""
    return data[name] if isinstance(data, Mapping) else getattr(data, name)


def _resolve_update_rule(rule: str | optim.UpdateRule) -> tuple[str, optim.UpdateRule]:
    """``(name, rule)`` from a name in ``optim.UPDATE_RULES`` or from an update-rule callable."""
    if callable(rule):
        return getattr(rule, "__name__", type(rule).__name__), rule
    if rule not in optim.UPDATE_RULES:
        raise ValueError(f"Solver: unknown update_rule {rule!r}; known: {', '.join(optim.UPDATE_RULES)}")
    return rule, optim.UPDATE_RULES[rule]


def _model_task(model: Any) -> str:
    """Regression for models trained with the MSE loss, classification otherwise."""
    return "regression" if getattr(model, "loss_name", None) == "mse" else "classification"


def _copy_params(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Independent copies of every parameter array."""
    return {name: w.copy() for name, w in params.items()}
