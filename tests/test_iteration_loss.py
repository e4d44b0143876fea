"""The per-iteration training loss: recorded by a trial (thinned to at most 1000 rows), logged by
the tracker at ``step=iteration``, read back on demand and kept apart from the per-epoch history."""

from __future__ import annotations

import numpy as np

from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState
from sweepnet.tracking import ITERATION_LOSS, read_iteration_loss, read_sweep
from sweepnet.trial import run_trial

from .test_trial import FC, trial


def test_a_long_trial_keeps_1000_evenly_spread_iterations_first_and_last_included(builtin_registries):
    spec, dataset = trial(FC, "solver.batch_size=10", "solver.num_epochs=10", registries=builtin_registries)
    result = run_trial(spec, dataset=dataset)
    rows = result.iteration_loss
    assert rows.shape == (1000, 2) and rows.dtype == np.float32
    iterations = rows[:, 0]
    assert iterations[0] == 1 and iterations[-1] == 1250  # 125 minibatches of 10 a epoch, 10 epochs
    assert np.all(np.diff(iterations) >= 1) and np.all(np.diff(iterations) <= 2)
    assert np.mean(rows[-100:, 1]) < rows[0, 1] / 2 and np.mean(rows[-100:, 1]) < result.history[0]["loss"]


def test_a_short_trial_keeps_every_iteration(builtin_registries):
    spec, dataset = trial(FC, registries=builtin_registries)
    rows = run_trial(spec, dataset=dataset).iteration_loss
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, 6 * 19 + 1))  # 1257 // 64 = 19 minibatches a epoch


def test_classic_classifiers_record_their_sgd_steps_and_knn_has_none(builtin_registries):
    svm = FC.replace(
        "model: {name: fc, hidden_dims: [64], weight_scale: 0.1}", "model: {name: linear_svm, num_iters: 50}"
    )
    spec, dataset = trial(svm, registries=builtin_registries)
    rows = run_trial(spec, dataset=dataset).iteration_loss
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, 51))
    knn = FC.replace("model: {name: fc, hidden_dims: [64], weight_scale: 0.1}", "model: {name: knn, k: 3}")
    spec, dataset = trial(knn, registries=builtin_registries)
    assert run_trial(spec, dataset=dataset).iteration_loss is None


def test_a_diverged_trial_keeps_the_loss_that_blew_up(builtin_registries):
    spec, dataset = trial(
        FC, "solver.update_rule=sgd", "solver.optim_config.learning_rate=1e4", registries=builtin_registries
    )
    result = run_trial(spec, dataset=dataset)
    assert result.state is TrialState.DIVERGED
    first, last = result.iteration_loss[0, 1], result.iteration_loss[-1, 1]
    assert not np.isfinite(last) or last > 100 * first  # the Solver's divergence rule


def test_the_tracker_logs_it_at_step_iteration_and_reads_it_back_apart_from_the_epochs(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    hook = create_plugin_manager(autoload=False).hook
    sweep = SweepInfo("iterations", {"tracking": {"uri": uri}}, "name: iterations\n", "val_acc", "max")
    hook.sweepnet_sweep_start(sweep=sweep)
    rows = np.column_stack([np.arange(1, 1501, 3), np.linspace(2.3, 0.1, 500)]).astype(np.float32)
    specs, results = [], []
    for number, loss in ((0, rows), (1, None)):
        spec = TrialSpec(f"{number}" * 40, number, {"solver.lr": 10.0**-number}, {}, seed=number)
        history = [
            {"epoch": 1, "loss": 2.0, "train_acc": 0.5, "val_acc": 0.4},
            {"epoch": 2, "loss": 1.0, "train_acc": 0.7, "val_acc": 0.6},
        ]
        result = TrialResult(spec.trial_id, TrialState.COMPLETED, {"val_acc": 0.6}, history, iteration_loss=loss)
        hook.sweepnet_trial_start(sweep=sweep, trial=spec)
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
        specs.append(spec)
        results.append(result)
    hook.sweepnet_sweep_end(sweep=sweep, results=results)

    record = read_sweep("iterations", uri, histories=True)
    assert [[row["epoch"] for row in result.history] for _, result in record.entries] == [[1, 2], [1, 2]]
    assert all(ITERATION_LOSS not in row for _, result in record.entries for row in result.history)
    assert set(record.run_ids) == {spec.trial_id for spec in specs} and record.experiment_id
    read = read_iteration_loss(record, specs)
    assert set(read) == {specs[0].trial_id}  # the second trial recorded none
    np.testing.assert_array_equal(read[specs[0].trial_id], rows)
