"""Running one trial: build the model of a :class:`~sweepnet.records.TrialSpec`, train it, score it.

The same :func:`run_trial` runs in-process (``sweepnet trial``) and inside a Ray worker. Everything
random comes from the trial's seed: the model (initialisation and dropout) draws from
``np.random.default_rng(spec.seed)``, the Solver (minibatches, evaluation subsets) from a child
generator of ``SeedSequence(spec.seed)``, so two runs of one spec give identical results, whatever
the global numpy state or the worker.

Scoring follows the ``data:`` section: on the holdout validation split, or with ``data.cv: k``
by k-fold cross-validation over the training split (a fresh model per fold; the metric is the
mean over folds, reported with its ``*_std`` and per-fold values), after which one model is
refit on the whole training split for the test metric.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from sweepnet.core.model_state import model_state
from sweepnet.core.solver import Solver
from sweepnet.data import Dataset, load_dataset
from sweepnet.pluginmanager import get_registries
from sweepnet.records import TrialResult, TrialSpec, TrialState
from sweepnet.registry import Registries
from sweepnet.schema import TrialSetup, setup_trial

__all__ = ["Report", "run_trial"]

Report = Callable[[int, dict[str, float]], bool]
"""``report(epoch, metrics) -> stop``: called after every epoch (1-based); True prunes the trial."""

_PRINT_EVERY = 100  # iterations between the Solver's loss lines, as in the classic notebooks
_MAX_LOSS_POINTS = 1000  # rows of TrialResult.iteration_loss: enough for the classic loss plot


@dataclass
class _Outcome:
    state: TrialState
    metrics: dict[str, float]
    weights: dict[str, np.ndarray] | None = None
    error: str | None = None
    model_state: dict[str, np.ndarray] | None = None
    iteration_loss: np.ndarray | None = None


def run_trial(
    spec: TrialSpec,
    report: Report | None = None,
    *,
    dataset: Dataset | None = None,
    registries: Registries | None = None,
    setup: TrialSetup | None = None,
    verbose: bool = False,
    raise_errors: bool = False,
) -> TrialResult:
    """Train and score the trial ``spec`` describes.

    Parameters
    ----------
    spec : the trial; ``spec.config`` is a resolved sweep config, ``spec.seed`` its seed.
    report : called after every epoch with that epoch's metrics (``epoch``, ``loss``,
        ``train_acc``, ``val_acc``, ``lr`` ...); returning True stops the trial as PRUNED.
    dataset : the sweep's data set, loaded once by the caller; loaded from ``spec.config`` when None.
    registries : where components are looked up (default: the process-wide registries).
    setup : ``spec``'s validated setup, when this process made the spec
        (:meth:`~sweepnet.plan.SweepPlan.trial`); else validated from ``spec.config`` here (a Ray
        worker, since the plugin objects it holds do not cross processes).
    verbose : print the Solver's progress lines.
    raise_errors : re-raise an exception instead of returning a FAILED result (``--pdb``).

    Returns
    -------
    result : COMPLETED, PRUNED, DIVERGED (``error`` says why) or FAILED (``error`` is the
        traceback). ``metrics`` holds the final ``val_*`` (best), ``train_*``, ``test_*`` of the
        best parameters, ``loss`` (of the last epoch) and ``epochs``; ``weights`` the best parameters
        and ``model_state`` the model's state of the same epoch (the test metrics are measured
        with both).
    """
    start = time.perf_counter()
    history: list[dict[str, float]] = []
    try:
        registries = registries or get_registries()
        setup = setup or setup_trial(spec.config, registries)
        with threadpool_limits(limits=max(1, int(setup.config.resources.cpus_per_trial))):
            if dataset is None:
                dataset = load_dataset(setup.config.data, registries.datasets)
            epoch_report = _Reporter(report, history)
            train = _train_solver if setup.trainer == "solver" else _train_classic
            outcome = train(setup, dataset, spec.seed, epoch_report, verbose)
    except Exception:
        if raise_errors:
            raise
        outcome = _Outcome(TrialState.FAILED, {}, error=traceback.format_exc())
    return TrialResult(
        spec.trial_id,
        outcome.state,
        outcome.metrics,
        history,
        duration_s=time.perf_counter() - start,
        weights=outcome.weights,
        error=outcome.error,
        model_state=outcome.model_state,
        iteration_loss=outcome.iteration_loss,
    )


class _Reporter:
    """The Solver's ``epoch_callback``: records the epoch in the history, then asks ``report``."""

    def __init__(self, report: Report | None, history: list[dict[str, float]]) -> None:
        self.report, self.history = report, history

    def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
        row = {"epoch": epoch, **metrics}
        self.history.append(row)
        return bool(self.report is not None and self.report(epoch, dict(row)))


# --------------------------------------------------------------------------- Solver-trained models


def _train_solver(setup: TrialSetup, dataset: Dataset, seed: int, report: _Reporter, verbose: bool) -> _Outcome:
    task = "acc" if dataset.meta.task == "classification" else "rmse"
    if not dataset.folds:
        solver = _fit(setup, dataset, _holdout(dataset), seed, report, verbose)
        return _solver_outcome(solver, dataset, {f"val_{task}": _best(solver, task)}, report.history)
    fold_histories: list[list[dict[str, float]]] = []
    scores = []
    for index, (train, val) in enumerate(dataset.folds):
        fold_history: list[dict[str, float]] = []
        split = {
            "X_train": dataset.X_train[train],
            "y_train": dataset.y_train[train],
            "X_val": dataset.X_train[val],
            "y_val": dataset.y_train[val],
        }
        solver = _fit(setup, dataset, split, seed, lambda _, metrics: fold_history.append(metrics), verbose)  # noqa: B023 -- runs now
        if solver.diverged:
            return _Outcome(TrialState.DIVERGED, {}, error=f"fold {index}: {solver.diverged}")
        fold_histories.append(fold_history)
        scores.append(_best(solver, task))
    cv_metrics = _cv_metrics(f"val_{task}", scores)
    # Folds train one after another, so the pruner sees the mean curve once they are done.
    for epoch, rows in enumerate(zip(*fold_histories, strict=True), start=1):
        if report(epoch, {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}):
            return _Outcome(TrialState.PRUNED, {**cv_metrics, "epochs": epoch, "loss": report.history[-1]["loss"]})
    solver = _fit(setup, dataset, _holdout(dataset), seed, None, verbose)
    return _solver_outcome(solver, dataset, cv_metrics, report.history)


def _fit(
    setup: TrialSetup,
    dataset: Dataset,
    data: dict[str, np.ndarray],
    seed: int,
    callback: Callable[[int, dict[str, float]], bool | None] | None,
    verbose: bool,
) -> Solver:
    """Build a fresh model and train it on ``data`` (``X_train``, ``y_train``, ``X_val``, ``y_val``)."""
    options = setup.config.solver
    model = setup.model.obj().build(
        setup.model_options, dataset.meta, rng=np.random.default_rng(seed), dtype=np.dtype(options.dtype)
    )
    solver = Solver(
        model,
        data,
        update_rule=setup.update_rule.obj,
        optim_config=dict(setup.optim_config),
        lr_decay=options.lr_decay,
        batch_size=options.batch_size,
        num_epochs=options.num_epochs,
        num_train_samples=options.num_train_samples,
        num_val_samples=options.num_val_samples,
        divergence_factor=options.divergence_factor,
        print_every=_PRINT_EVERY,
        verbose=verbose,
        rng=np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]),
        epoch_callback=callback,
        task=dataset.meta.task,
    )
    solver.train()
    return solver


def _solver_outcome(
    solver: Solver, dataset: Dataset, val_metrics: dict[str, float], history: list[dict[str, float]]
) -> _Outcome:
    """Final metrics of a trained Solver (its model holds the best parameters and state) and its state."""
    if dataset.meta.task == "classification":
        train = solver.check_accuracy(dataset.X_train, dataset.y_train, num_samples=solver.num_train_samples)
        metrics = {"train_acc": train, "test_acc": solver.check_accuracy(dataset.X_test, dataset.y_test)}
    else:
        train = solver.check_rmse(dataset.X_train, dataset.y_train, num_samples=solver.num_train_samples)
        metrics = {"train_rmse": train, "test_rmse": solver.check_rmse(dataset.X_test, dataset.y_test)}
    metrics.update(val_metrics, epochs=solver.epoch)
    if history:
        metrics["loss"] = history[-1]["loss"]
    weights = {name: np.array(value) for name, value in solver.model.params.items()}
    state = model_state(solver.model)
    losses = _iteration_loss(solver.loss_history)
    if solver.diverged:
        return _Outcome(
            TrialState.DIVERGED, metrics, weights, solver.diverged, model_state=state, iteration_loss=losses
        )
    final = TrialState.PRUNED if solver.stopped_early else TrialState.COMPLETED
    return _Outcome(final, metrics, weights, model_state=state, iteration_loss=losses)


def _best(solver: Solver, task: str) -> float:
    return solver.best_val_acc if task == "acc" else solver.best_val_rmse


def _holdout(dataset: Dataset) -> dict[str, np.ndarray]:
    return {"X_train": dataset.X_train, "y_train": dataset.y_train, "X_val": dataset.X_val, "y_val": dataset.y_val}


# --------------------------------------------------------------------------- classic classifiers


def _train_classic(setup: TrialSetup, dataset: Dataset, seed: int, report: _Reporter, verbose: bool) -> _Outcome:
    """kNN / linear classifiers: fit, predict; one "epoch" (classification only, checked at build)."""

    def fresh() -> Any:
        dtype = np.dtype(setup.config.solver.dtype)
        return setup.model.obj().build(setup.model_options, dataset.meta, rng=np.random.default_rng(seed), dtype=dtype)

    X_train, y_train = dataset.X_train, dataset.y_train
    if dataset.folds:
        scores = []
        for train, val in dataset.folds:
            model = fresh()
            model.fit(X_train[train], y_train[train])
            scores.append(_accuracy(model, X_train[val], y_train[val]))
        val_metrics = _cv_metrics("val_acc", scores)
        model = fresh()
        losses = model.fit(X_train, y_train)
    else:
        model = fresh()
        losses = model.fit(X_train, y_train)
        val_metrics = {"val_acc": _accuracy(model, dataset.X_val, dataset.y_val)}
    diverged = _non_finite(losses)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    subset = _subset(len(X_train), setup.config.solver.num_train_samples, rng)
    epoch = {"train_acc": _accuracy(model, X_train[subset], y_train[subset]), "val_acc": val_metrics["val_acc"]}
    if losses:
        epoch["loss"] = float(np.mean(losses))
    if verbose:
        print(f"(Epoch 1 / 1) train acc: {epoch['train_acc']:f}; val_acc: {epoch['val_acc']:f}")
    pruned = report(1, epoch)
    metrics = {**epoch, **val_metrics, "test_acc": _accuracy(model, dataset.X_test, dataset.y_test), "epochs": 1}
    weights = {name: np.array(value) for name, value in model.params.items()}
    state = TrialState.DIVERGED if diverged else TrialState.PRUNED if pruned else TrialState.COMPLETED
    return _Outcome(state, metrics, weights, diverged, model_state={}, iteration_loss=_iteration_loss(losses))


def _iteration_loss(losses: Sequence[float]) -> np.ndarray | None:
    """``(K, 2)`` float32 rows ``(iteration, loss)`` of a loss per iteration, evenly thinned to at
    most ``_MAX_LOSS_POINTS`` rows (the first and last iterations kept); None without a loss.

    Kept rows hold the loss of their iteration, not an average: the thinned series is as noisy
    as the full one, as the classic loss plot shows it. Iterations stay exact in float32 up to 2**24.
    """
    if not losses:
        return None
    count = len(losses)
    kept = np.unique(np.linspace(0, count - 1, min(count, _MAX_LOSS_POINTS)).round().astype(np.int64))
    return np.column_stack([kept + 1, np.asarray(losses, dtype=np.float64)[kept]]).astype(np.float32)


def _non_finite(losses: list[float]) -> str | None:
    """Why a classic model's training diverged, or None."""
    for iteration, loss in enumerate(losses, start=1):
        if not math.isfinite(loss):
            return f"non-finite loss {loss} at iteration {iteration}"
    return None


def _accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    """Share of ``X: (N, ...)`` that ``model`` labels as ``y: (N,)``."""
    return float(np.mean(model.predict(X) == y))


def _subset(n: int, count: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of a random subset of ``count`` of ``n`` samples (all of them when ``count`` is None or larger)."""
    if count is None or count >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, count, replace=False))


def _cv_metrics(name: str, scores: list[float]) -> dict[str, float]:
    """``name`` (mean over folds), ``name_std`` and ``name_fold<i>``."""
    metrics = {name: float(np.mean(scores)), f"{name}_std": float(np.std(scores))}
    metrics.update({f"{name}_fold{i}": float(score) for i, score in enumerate(scores)})
    return metrics
