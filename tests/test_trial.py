"""run_trial: every trainer, every final state, cross-validation, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from sweepnet.core.model_state import load_model_state
from sweepnet.model import ModelPlugin
from sweepnet.plan import plan_from_text
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import TrialState
from sweepnet.trial import run_trial

FC = """\
name: t
data: {name: digits, flatten: true, standardize: true}
model: {name: fc, hidden_dims: [64], weight_scale: 0.1}
solver: {update_rule: adam, optim_config: {learning_rate: 1.0e-3}, batch_size: 64, num_epochs: 6}
search: {num_samples: 1}
"""


def trial(text, *overrides, registries, params=None):
    """``(spec, dataset)`` of the first point of a sweep (or of ``params``)."""
    plan = plan_from_text(text, overrides, registries=registries)
    dataset = plan.load_dataset()
    plan.check(dataset)
    return plan.trial_spec(params if params is not None else plan.bind(dataset.meta).make_searcher().ask(), 0), dataset


def test_fc_on_digits_completes_with_a_sane_accuracy(builtin_registries):
    spec, dataset = trial(FC, registries=builtin_registries)
    reports = []
    result = run_trial(spec, lambda epoch, metrics: reports.append((epoch, metrics)) or False, dataset=dataset)
    assert result.state is TrialState.COMPLETED and result.error is None and result.trial_id == spec.trial_id
    assert result.metrics["val_acc"] > 0.85 and result.metrics["test_acc"] > 0.85 and result.metrics["epochs"] == 6
    assert result.metrics["val_acc"] == max(row["val_acc"] for row in result.history)
    assert [epoch for epoch, _ in reports] == [1, 2, 3, 4, 5, 6]
    assert reports[0][1] == result.history[0]
    assert set(result.history[0]) == {"epoch", "loss", "train_acc", "val_acc", "lr"}
    assert result.history[1]["lr"] == pytest.approx(1e-3)  # no lr_decay
    assert result.metrics["loss"] == result.history[-1]["loss"] and result.duration_s > 0
    assert set(result.weights) == {"W1", "b1", "W2", "b2"} and result.weights["W1"].shape == (64, 64)


def test_a_report_that_says_stop_prunes_within_one_epoch(builtin_registries):
    spec, dataset = trial(FC, registries=builtin_registries)
    result = run_trial(spec, lambda epoch, metrics: True, dataset=dataset)
    assert result.state is TrialState.PRUNED and len(result.history) == 1 and result.metrics["epochs"] == 1
    assert "test_acc" in result.metrics and result.weights


def test_blas_runs_on_as_many_threads_as_the_trial_has_cpus(builtin_registries):
    """The one place that limits BLAS threads, for ``sweepnet trial`` and the Ray workers alike."""
    spec, dataset = trial(FC, "resources.cpus_per_trial=1", registries=builtin_registries)
    threads = []

    def report(epoch, metrics):
        threads.extend(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")
        return True

    assert run_trial(spec, report, dataset=dataset).state is TrialState.PRUNED
    assert threads and set(threads) == {1}


def test_a_huge_learning_rate_diverges(builtin_registries):
    spec, dataset = trial(
        FC, "solver.update_rule=sgd", "solver.optim_config.learning_rate=1e4", registries=builtin_registries
    )
    result = run_trial(spec, dataset=dataset)
    assert result.state is TrialState.DIVERGED and result.history == []
    assert "exceeds 100 times the first loss" in result.error or "non-finite" in result.error


class _Exploding(ModelPlugin):
    """A model plugin whose build raises."""

    def build(self, options, meta, *, seed=None, rng=None, dtype=np.float32):
        raise RuntimeError("kaboom in build")


@pytest.fixture
def registries_with_exploding_model():
    registries = create_plugin_manager(autoload=False).build_registries()
    registries.models.add("exploding", _Exploding)
    return registries


def test_an_exception_in_a_plugin_fails_the_trial_with_its_traceback(registries_with_exploding_model):
    registries = registries_with_exploding_model
    plan = plan_from_text(FC, ["model={name: exploding}"], registries=registries)
    spec = plan.trial_spec({}, 0)
    result = run_trial(spec, registries=registries)
    assert result.state is TrialState.FAILED and result.metrics == {} and result.weights is None
    assert result.error.startswith("Traceback") and "RuntimeError: kaboom in build" in result.error
    with pytest.raises(RuntimeError, match="kaboom"):
        run_trial(spec, registries=registries, raise_errors=True)


def test_knn_by_five_fold_cross_validation(builtin_registries):
    text = """\
name: knn
data: {name: digits, flatten: true, cv: 5}
model: {name: knn, k: {grid: [1, 3, 5, 8, 10, 12, 15, 20, 50, 100]}}
search: {searcher: grid}
"""
    spec, dataset = trial(text, registries=builtin_registries, params={"model.k": 3})
    result = run_trial(spec, dataset=dataset)
    assert result.state is TrialState.COMPLETED
    folds = [result.metrics[f"val_acc_fold{i}"] for i in range(5)]
    assert result.metrics["val_acc"] == pytest.approx(np.mean(folds))
    assert result.metrics["val_acc_std"] == pytest.approx(np.std(folds))
    assert result.metrics["val_acc"] > 0.95 and result.metrics["test_acc"] > 0.95
    metrics = result.metrics
    assert result.history == [{"epoch": 1, "train_acc": metrics["train_acc"], "val_acc": metrics["val_acc"]}]
    assert result.weights == {}


def test_knn_folds_match_scikit_learn(builtin_registries):
    from sklearn.neighbors import KNeighborsClassifier

    spec, dataset = trial(
        "name: k\ndata: {name: digits, flatten: true, cv: 5}\nmodel: {name: knn, k: 1}\nsearch: {searcher: grid}",
        registries=builtin_registries,
    )
    result = run_trial(spec, dataset=dataset)
    for i, (train, val) in enumerate(dataset.folds):
        reference = KNeighborsClassifier(1).fit(dataset.X_train[train], dataset.y_train[train])
        expected = reference.score(dataset.X_train[val], dataset.y_train[val])
        assert result.metrics[f"val_acc_fold{i}"] == pytest.approx(expected)


def test_linear_svm(builtin_registries):
    text = """\
name: svm
data: {name: digits, flatten: true, standardize: true, bias_trick: true}
model: {name: linear_svm, learning_rate: 1.0e-3, reg: 1.0e-3, num_iters: 300}
search: {num_samples: 1}
"""
    spec, dataset = trial(text, registries=builtin_registries)
    result = run_trial(spec, dataset=dataset)
    assert result.state is TrialState.COMPLETED and result.metrics["val_acc"] > 0.85
    assert result.weights["W"].shape == (65, 10) and np.isfinite(result.history[0]["loss"])


def test_regression_on_diabetes_reports_rmse(builtin_registries):
    text = """\
name: reg
data: {name: diabetes, standardize: true}
model: {name: fc, hidden_dims: [32], weight_scale: 0.1}
solver: {update_rule: adam, optim_config: {learning_rate: 0.1}, batch_size: 32, num_epochs: 30}
search: {num_samples: 1}
"""
    spec, dataset = trial(text, registries=builtin_registries)
    result = run_trial(spec, dataset=dataset)
    assert result.state is TrialState.COMPLETED
    assert set(result.history[0]) == {"epoch", "loss", "train_rmse", "val_rmse", "lr"}
    constant = float(np.sqrt(np.mean((dataset.y_test - dataset.y_train.mean()) ** 2)))
    assert result.metrics["test_rmse"] < constant and result.metrics["val_rmse"] == min(
        row["val_rmse"] for row in result.history
    )


def test_sequential_conv_net_on_digit_images(builtin_registries):
    text = """\
name: conv
data: {name: digits, standardize: true}
model:
  name: sequential
  layers: [{name: conv, filters: 8, kernel: 3, pad: 1}, relu, {name: max_pool, size: 2}, {name: affine, units: 10}]
solver: {update_rule: adam, optim_config: {learning_rate: 3.0e-3}, batch_size: 64, num_epochs: 4}
search: {num_samples: 1}
"""
    spec, dataset = trial(text, registries=builtin_registries)
    assert dataset.X_train.shape[1:] == (1, 8, 8)
    result = run_trial(spec, dataset=dataset)
    assert result.state is TrialState.COMPLETED and result.metrics["val_acc"] > 0.8
    assert result.weights["0.conv.W"].shape == (8, 1, 3, 3)


def test_cross_validated_solver_trials_report_the_mean_curve_then_refit(builtin_registries):
    spec, dataset = trial(FC, "data.cv=3", "solver.num_epochs=3", registries=builtin_registries)
    epochs = []
    result = run_trial(spec, lambda epoch, metrics: epochs.append(epoch) or False, dataset=dataset)
    assert result.state is TrialState.COMPLETED and epochs == [1, 2, 3] and len(result.history) == 3
    folds = [result.metrics[f"val_acc_fold{i}"] for i in range(3)]
    assert result.metrics["val_acc"] == pytest.approx(np.mean(folds)) and "test_acc" in result.metrics
    pruned = run_trial(spec, lambda epoch, metrics: epoch == 2, dataset=dataset)
    assert pruned.state is TrialState.PRUNED and pruned.metrics["epochs"] == 2 and "test_acc" not in pruned.metrics


def test_two_runs_of_one_spec_are_identical_whatever_the_global_seed(builtin_registries):
    spec, dataset = trial(FC, "model.dropout_keep_ratio=0.8", "solver.num_epochs=3", registries=builtin_registries)
    np.random.seed(1)
    first = run_trial(spec, dataset=dataset)
    np.random.seed(2)
    second = run_trial(spec)  # loading the data set itself this time
    assert first.history == second.history and first.metrics == second.metrics
    assert first.weights.keys() == second.weights.keys()
    assert all(np.array_equal(first.weights[name], second.weights[name]) for name in first.weights)
    other, _ = trial(FC, "model.dropout_keep_ratio=0.8", "solver.num_epochs=3", "seed=1", registries=builtin_registries)
    assert run_trial(other, dataset=dataset).history != first.history


def test_weights_are_the_best_parameters(builtin_registries):
    overrides = ("solver.update_rule=sgd", "solver.optim_config.learning_rate=1.0")  # seeded: ends below its best
    spec, dataset = trial(FC, *overrides, registries=builtin_registries)
    result = run_trial(spec, dataset=dataset)
    assert result.metrics["val_acc"] > result.history[-1]["val_acc"]  # the last epoch was not the best one
    component = builtin_registries.models.component("fc")
    options = {key: value for key, value in spec.config["model"].items() if key != "name"}
    model = component.obj().build(component.parse_options(options, "model"), dataset.meta, seed=0)
    model.params = result.weights
    accuracy = np.mean(np.argmax(model.loss(dataset.X_val), axis=1) == dataset.y_val)
    assert accuracy == pytest.approx(result.metrics["val_acc"])


def test_test_metrics_are_those_of_the_best_epochs_weights_and_batchnorm_statistics(builtin_registries):
    overrides = ("model.normalization=batchnorm", "solver.update_rule=sgd", "solver.optim_config.learning_rate=1.0")
    spec, dataset = trial(FC, *overrides, registries=builtin_registries)
    result = run_trial(spec, dataset=dataset)
    best_epoch = 1 + [row["val_acc"] for row in result.history].index(result.metrics["val_acc"])
    assert best_epoch < len(result.history)  # seeded: the statistics moved on after the best epoch
    assert sorted(result.model_state) == ["bn_params.0.running_mean", "bn_params.0.running_var"]
    component = builtin_registries.models.component("fc")
    options = {key: value for key, value in spec.config["model"].items() if key != "name"}
    model = component.obj().build(component.parse_options(options, "model"), dataset.meta, seed=0)
    model.params = result.weights
    load_model_state(model, result.model_state)
    for split, metric in (("val", "val_acc"), ("test", "test_acc")):
        X, y = getattr(dataset, f"X_{split}"), getattr(dataset, f"y_{split}")
        scores = np.concatenate([model.loss(X[start : start + 100]) for start in range(0, len(X), 100)])
        assert np.mean(np.argmax(scores, axis=1) == y) == result.metrics[metric]


def test_verbose_prints_the_solver_lines(builtin_registries, capsys):
    spec, dataset = trial(FC, "solver.num_epochs=2", registries=builtin_registries)
    run_trial(spec, dataset=dataset, verbose=True)
    out = capsys.readouterr().out
    assert "(Iteration 1 / 38) loss:" in out and "(Epoch 2 / 2) train acc:" in out
    run_trial(spec, dataset=dataset)
    assert capsys.readouterr().out == ""
