"""What a sweep's record holds: the layout of its runs, what each trial writes, resume.

Sweeps are driven through the plugin manager's lifecycle hooks with records built here, as the
scheduler calls them, on a SQLite store.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from sweepnet import __version__, leaderboard
from sweepnet.bundle import ModelBundle
from sweepnet.commands.report import _data_meta
from sweepnet.data import DatasetMeta
from sweepnet.data.transform import Preprocessing
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import TrialResult, TrialState
from sweepnet.tracking import FINAL_PREFIX, ITERATION_LOSS, read_iteration_loss, read_sweep
from sweepnet.tracking.recorder import CURVE_TRIALS, KEPT_MODELS

from .sweeps import (
    HIDDEN,
    LR,
    PER_EPOCH,
    REG,
    artifact,
    artifacts_of,
    deleted_trials,
    history_of,
    load_npz,
    make_spec,
    make_sweep,
    record_trial,
    runs_of,
)


@pytest.fixture(scope="module")
def layout(store, tmp_path_factory):
    """One finished sweep of four trials (completed, best, failed, pruned), recorded through the hooks."""
    hook = create_plugin_manager(autoload=False).hook
    sweep = make_sweep("layout", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    entries = [
        record_trial(hook, sweep, 0, score=0.6),
        record_trial(hook, sweep, 1, score=0.8),
        record_trial(hook, sweep, 2, state=TrialState.FAILED, epochs=1),
        record_trial(hook, sweep, 3, score=0.4, epochs=2, state=TrialState.PRUNED),
    ]
    hook.sweepnet_sweep_end(sweep=sweep, results=[result for _, result in entries])
    [parent], children = runs_of(store, "layout")
    return sweep, entries, parent, children, tmp_path_factory.mktemp("downloads")


def test_each_trial_is_a_child_run_of_the_sweeps_parent_run(layout):
    _, entries, parent, children, _ = layout
    assert sorted(children) == [0, 1, 2, 3]
    assert all(run.data.tags["mlflow.parentRunId"] == parent.info.run_id for run in children.values())
    assert [children[n].info.run_name for n in range(4)] == [f"trial-00{n}-0{n}c0ffee" for n in range(4)]
    assert [children[n].info.status for n in range(4)] == ["FINISHED", "FINISHED", "FAILED", "FINISHED"]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "layout"


def test_the_experiment_opens_on_the_runs_in_mlflows_ui(layout, store):
    experiment = MlflowClient(store).get_experiment_by_name("layout")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_child_run_holds_params_tags_per_epoch_and_final_metrics(layout, store):
    _, entries, _, children, _ = layout
    for spec, result in entries:
        run, tags = children[spec.number], children[spec.number].data.tags
        hidden = str(spec.params[HIDDEN])
        assert run.data.params == {LR: str(spec.params[LR]), REG: str(spec.params[REG]), "model.hidden_dims.0": hidden}
        assert json.loads(tags["sweepnet.params"]) == spec.params
        assert json.loads(tags["sweepnet.config"]) == spec.config
        identity = (tags["sweepnet.trial_id"], tags["sweepnet.trial_number"], tags["sweepnet.seed"])
        assert identity == (spec.trial_id, str(spec.number), str(spec.seed))
        placement = (tags["sweepnet.node"], tags["sweepnet.worker"], tags["sweepnet.retries"])
        assert placement == ("127.0.0.1", result.worker, str(result.retries))
        assert tags["sweepnet.state"] == result.state.value
        assert float(tags["sweepnet.duration_s"]) == pytest.approx(result.duration_s)
        assert tags["sweepnet.version"] == __version__
        assert json.loads(tags["sweepnet.plugins"])["sweepnet"] == __version__
        for key in PER_EPOCH:  # per-epoch series at step=epoch
            assert history_of(store, run, key) == [(row["epoch"], pytest.approx(row[key])) for row in result.history]
        final = {key: value for key, value in run.data.metrics.items() if key.startswith(FINAL_PREFIX)}
        assert final == {FINAL_PREFIX + key: pytest.approx(value) for key, value in result.metrics.items()}


def test_the_best_trials_keep_weights_and_curves_and_a_failed_one_its_traceback(layout, store):
    _, entries, _, children, downloads = layout
    for spec, result in entries:
        run = children[spec.number]
        if result.weights is not None and result.state is not TrialState.FAILED:
            weights = load_npz(artifact(store, run, "model.npz", downloads))
            np.testing.assert_array_equal(weights["W1"], result.weights["W1"])
            assert run.data.tags["sweepnet.model"] == "model.npz"
            assert artifact(store, run, "curves.png", downloads).startswith(b"\x89PNG")
    failed = children[2]
    assert failed.data.tags["sweepnet.error"] == "ValueError: bad shapes (3, 4)"
    assert artifact(store, failed, "error.txt", downloads).decode() == entries[2][1].error
    assert artifacts_of(store, failed) == {"error.txt"}


def test_the_parent_run_holds_the_sweep_file_config_and_versions(layout, store):
    sweep, _, parent, _, downloads = layout
    tags = parent.data.tags
    assert (tags["sweepnet.metric"], tags["sweepnet.mode"]) == ("val_acc", "max")
    assert json.loads(tags["sweepnet.overrides"]) == ["solver.num_epochs=3"]
    assert tags["sweepnet.version"] == __version__ and "sweepnet" in json.loads(tags["sweepnet.plugins"])
    assert artifact(store, parent, "sweep.yaml", downloads).decode() == sweep.config_text
    assert yaml.safe_load(artifact(store, parent, "config.yaml", downloads)) == sweep.config


def test_the_parent_run_holds_the_leaderboard_best_model_and_plots(layout, store):
    _, entries, parent, children, downloads = layout
    csv_text = artifact(store, parent, "leaderboard.csv", downloads).decode()
    assert csv_text == leaderboard.to_csv(entries, "val_acc", "max")
    markdown = artifact(store, parent, "leaderboard.md", downloads).decode()
    assert markdown == leaderboard.to_markdown(entries, "val_acc", "max")
    best_spec, best_result = entries[1]
    assert parent.data.tags["sweepnet.best_trial"] == best_spec.trial_id
    assert parent.data.tags["sweepnet.trials"] == "4"
    best = load_npz(artifact(store, parent, "best_model.npz", downloads))
    assert sorted(best) == ["W1", "b1"] and np.array_equal(best["W1"], best_result.weights["W1"])
    summary = json.loads(artifact(store, parent, "best.json", downloads))
    assert (summary["trial_id"], summary["run_id"], summary["params"]) == (
        best_spec.trial_id,
        children[1].info.run_id,
        best_spec.params,
    )
    assert summary["metrics"] == pytest.approx(best_result.metrics)
    assert parent.data.metrics == {FINAL_PREFIX + key: pytest.approx(v) for key, v in best_result.metrics.items()}
    plots = artifacts_of(store, parent, "plots")
    assert {"plots/val_acc_vs_params.png", "plots/heatmap.png", "plots/first_layer_weights.png"} <= plots


def test_a_trials_model_file_and_the_best_as_an_mlflow_model_on_the_parent(layout, store):
    _, entries, parent, children, downloads = layout
    best_spec, best_result = entries[1]
    bundle = ModelBundle.read(artifact(store, children[1], "model.npz", downloads))
    assert (bundle.trial["trial_id"], bundle.trial["metrics"]) == (best_spec.trial_id, best_result.metrics)
    assert bundle.config == best_spec.config and bundle.meta.input_shape == (1, 8, 8)
    assert artifacts_of(store, parent, "model") == {"model/MLmodel", "model/model.npz"}
    mlmodel = yaml.safe_load(artifact(store, parent, "model/MLmodel", downloads))
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "sweepnet.pyfunc"
    assert artifact(store, parent, "model/model.npz", downloads) == artifact(store, parent, "best_model.npz", downloads)


def test_the_report_links_every_trial_to_its_run_however_late_the_store_wrote_it(store, hook, monkeypatch, tmp_path):
    """The figures are drawn while the trials are written; the page, after their runs exist."""
    from sweepnet import report
    from sweepnet.tracking import backend

    drawn = threading.Event()
    real_write, real_figures = backend.SqlBackend.write, report.report_figures

    def write_after_the_figures(self, records, progressed=lambda: None):
        assert drawn.wait(timeout=60), "the figures were never drawn"
        time.sleep(0.5)
        return real_write(self, records, progressed)

    def figures(*args, **kwargs):
        try:
            return real_figures(*args, **kwargs)
        finally:
            drawn.set()

    monkeypatch.setattr(backend.SqlBackend, "write", write_after_the_figures)
    monkeypatch.setattr(report, "report_figures", figures)
    sweep = make_sweep("linked", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    results = [record_trial(hook, sweep, number, score=0.5 + number / 10, epochs=1)[1] for number in range(6)]
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    [parent], children = runs_of(store, "linked")
    page = artifact(store, parent, "report.html", tmp_path).decode()
    assert all(f"/runs/{run.info.run_id}" in page for run in children.values())
    assert f"/runs/{parent.info.run_id}" in page


def test_data_meta_json_holds_what_the_report_reads_without_the_preprocessing_arrays(store, hook, tmp_path):
    statistics = np.linspace(0.0, 1.0, 64)
    meta = DatasetMeta(
        "digits", "classification", (64,), num_classes=10, class_names=tuple("0123456789"),
        preprocessing=Preprocessing((1, 8, 8), "float64", flatten=True, mean=statistics, scale=statistics + 1),
    )  # fmt: skip
    sweep = replace(make_sweep("meta", store), data_meta=meta)
    hook.sweepnet_sweep_start(sweep=sweep)
    hook.sweepnet_sweep_end(sweep=sweep, results=[])
    [parent], _ = runs_of(store, "meta")
    read = _data_meta(artifact(store, parent, "data_meta.json", tmp_path))  # as sweepnet report reads it
    assert read == meta and read.preprocessing is None


def test_a_long_trials_per_iteration_loss_goes_out_with_its_end_apart_from_its_epochs(store, hook):
    """A trial whose run was written while it ran gets its end (1000 iteration points and the
    final metrics) through the API, in batches within MLflow's limit."""
    sweep = make_sweep("long-trial", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    spec = make_spec(0)
    hook.sweepnet_trial_start(sweep=sweep, trial=spec)
    deadline = time.monotonic() + 30
    while not runs_of(store, "long-trial")[1]:  # the running trial's run is created
        assert time.monotonic() < deadline, "the running trial's run was never created"
        time.sleep(0.1)
    rows = np.column_stack([np.arange(1, 2001, 2), np.linspace(2.3, 0.1, 1000)]).astype(np.float32)
    history = [{"epoch": 1, "loss": 1.0, "train_acc": 0.5, "val_acc": 0.4}]
    result = TrialResult(spec.trial_id, TrialState.COMPLETED, {"val_acc": 0.4}, history, 1.0, iteration_loss=rows)
    hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
    hook.sweepnet_sweep_end(sweep=sweep, results=[result])
    record = read_sweep("long-trial", store, histories=True)
    assert [list(row) for row in record.entries[0][1].history] == [["epoch", "loss", "train_acc", "val_acc"]]
    assert record.entries[0][1].metrics == {"val_acc": pytest.approx(0.4)}
    np.testing.assert_array_equal(read_iteration_loss(record, [spec])[spec.trial_id], rows)
    _, children = runs_of(store, "long-trial")
    assert len(history_of(store, children[0], ITERATION_LOSS)) == 1000


def test_runs_carry_the_trials_own_start_and_end_times_not_the_writers(store, hook):
    """A trial that starts, runs 1.5 s and ends: its run spans those 1.5 s, however late the writer is."""
    sweep = make_sweep("times", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    before = int(time.time() * 1000)  # runs hold whole milliseconds
    spec = make_spec(0)
    hook.sweepnet_trial_start(sweep=sweep, trial=spec)
    time.sleep(1.5)
    result = TrialResult(spec.trial_id, TrialState.COMPLETED, {"val_acc": 0.5}, [{"epoch": 1, "val_acc": 0.5}], 1.5)
    hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
    after = time.time() * 1000
    time.sleep(1.0)  # the writer writes later than the trial ended
    hook.sweepnet_sweep_end(sweep=sweep, results=[result])
    _, children = runs_of(store, "times")
    info = children[0].info
    assert before <= info.start_time <= before + 200
    assert after - 200 <= info.end_time <= after
    assert (info.end_time - info.start_time) / 1000 == pytest.approx(1.5, abs=0.2)


def test_only_trials_among_the_best_when_they_end_keep_weights(store, hook):
    """Scores in a random order: the first KEPT_MODELS trials and later ones that enter the top
    KEPT_MODELS keep model.npz; the best always does; the best curves are drawn at the end."""
    scores = np.random.default_rng(7).permutation(np.linspace(0.1, 0.9, 40))
    sweep = make_sweep("kept-models", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    results = [
        record_trial(hook, sweep, number, score=float(score), epochs=1)[1] for number, score in enumerate(scores)
    ]
    hook.sweepnet_sweep_end(sweep=sweep, results=results)

    expected = {number for number in range(40) if sum(scores[:number] > scores[number]) < KEPT_MODELS}
    _, children = runs_of(store, "kept-models")
    kept = {number for number, run in children.items() if "model.npz" in artifacts_of(store, run)}
    assert kept == expected and int(np.argmax(scores)) in kept and len(kept) < 20
    assert kept == {number for number, run in children.items() if "sweepnet.model" in run.data.tags}
    curves = {number for number, run in children.items() if "curves.png" in artifacts_of(store, run)}
    assert curves == {int(number) for number in np.argsort(-scores)[:CURVE_TRIALS]}


def test_metrics_go_out_in_batches_never_one_call_per_value(store, hook, monkeypatch):
    """Long trials: their reports go out in batches while they run (here through log_batch,
    the running trials' later epochs), never one call per value."""
    calls = []
    real_log_batch = MlflowClient.log_batch

    def log_batch(self, run_id, metrics=(), params=(), tags=(), **kwargs):
        calls.append(len(metrics))
        return real_log_batch(self, run_id, metrics, params, tags, **kwargs)

    def log_metric(*args, **kwargs):
        raise AssertionError("the tracker must not log one metric per call")

    monkeypatch.setattr(MlflowClient, "log_batch", log_batch)
    monkeypatch.setattr(MlflowClient, "log_metric", log_metric)
    sweep = make_sweep("batching", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    specs = [make_spec(number) for number in range(4)]
    for spec in specs:
        hook.sweepnet_trial_start(sweep=sweep, trial=spec)
    deadline = time.monotonic() + 30
    while len(runs_of(store, "batching")[1]) < 4:  # the runs are created, then their epochs pile up
        assert time.monotonic() < deadline, "the running trials' runs were never created"
        time.sleep(0.1)
    results = []
    for spec in specs:
        history = []
        for epoch in range(1, 21):
            metrics = {"loss": 1 / epoch, "train_acc": 0.5, "val_acc": 0.4, "lr": 0.1}
            hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=epoch, metrics=metrics)
            history.append({"epoch": epoch, **metrics})
        results.append(TrialResult(spec.trial_id, TrialState.COMPLETED, {"val_acc": 0.4}, history, 1.0))
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=results[-1])
    hook.sweepnet_sweep_end(sweep=sweep, results=results)

    assert sum(calls) >= 4 * 20 * len(PER_EPOCH) and len([count for count in calls if count]) <= 8
    _, children = runs_of(store, "batching")
    assert all(len(history_of(store, run, "loss")) == 20 for run in children.values())


def test_the_hooks_never_wait_for_the_store(store, hook, monkeypatch):
    """While every write to the store hangs, the hooks still return at once."""
    from sweepnet.tracking import backend

    release = threading.Event()
    real_write = backend.SqlBackend.write

    def hanging_write(self, records, progressed=lambda: None):
        assert release.wait(timeout=30), "the test never released the store"
        return real_write(self, records, progressed)

    monkeypatch.setattr(backend.SqlBackend, "write", hanging_write)
    sweep = make_sweep("nonblocking", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    start = time.monotonic()
    results = [record_trial(hook, sweep, number, epochs=5)[1] for number in range(3)]  # would hang if they waited
    assert time.monotonic() - start < 1.0
    release.set()
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    _, children = runs_of(store, "nonblocking")
    assert sorted(children) == [0, 1, 2]


def test_resume_reuses_the_parent_run_and_the_history_is_what_was_recorded(store, hook, tmp_path):
    sweep = make_sweep("resumable", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    recorded = [
        record_trial(hook, sweep, 0, score=0.6),
        record_trial(hook, sweep, 1, score=0.9),
        record_trial(hook, sweep, 2, state=TrialState.FAILED, epochs=1),
        record_trial(hook, sweep, 3, epochs=2, end=False),  # its driver died while it ran
        record_trial(hook, sweep, 4, epochs=1, state=TrialState.KILLED),  # Ctrl-C
    ]
    hook.sweepnet_sweep_end(sweep=sweep, results=[result for _, result in recorded if result.state.is_finished])

    resumed = make_sweep("resumable", store, resumed=True)
    history = hook.sweepnet_sweep_history(sweep=resumed)
    assert [spec for spec, _ in history] == [spec for spec, _ in recorded]
    for (_, got), (_, sent) in zip(history, recorded, strict=True):
        expected_state = TrialState.RUNNING if sent.trial_id == recorded[3][0].trial_id else sent.state
        assert got.state is expected_state
        assert got.history == [pytest.approx(row) for row in sent.history]
        if expected_state is not TrialState.RUNNING:
            assert got.metrics == pytest.approx(sent.metrics)
            assert (got.node, got.worker, got.retries) == (sent.node, sent.worker, sent.retries)
    assert history[2][1].error == "ValueError: bad shapes (3, 4)"

    hook.sweepnet_sweep_start(sweep=resumed)
    rerun = [record_trial(hook, resumed, 3, score=0.5)]
    hook.sweepnet_trial_start(sweep=resumed, trial=make_spec(4))  # a worker died: the trial starts again
    rerun.append(record_trial(hook, resumed, 4, score=0.55))
    hook.sweepnet_sweep_end(sweep=resumed, results=[result for _, result in rerun])

    [parent], children = runs_of(store, "resumable")
    assert sorted(children) == [0, 1, 2, 3, 4]  # one run per trial: the re-run trials replaced theirs
    assert deleted_trials(store, "resumable") == [3, 4]
    assert parent.info.status == "FINISHED" and children[3].data.tags["sweepnet.state"] == "COMPLETED"
    assert history_of(store, children[3], "val_acc") == [(e, pytest.approx(0.5 * e / 3)) for e in (1, 2, 3)]
    final = [*recorded[:3], *rerun]
    assert artifact(store, parent, "leaderboard.csv", tmp_path).decode() == leaderboard.to_csv(final, "val_acc", "max")
    best = load_npz(artifact(store, parent, "best_model.npz", tmp_path))  # trial 1, from the first invocation
    np.testing.assert_array_equal(best["W1"], recorded[1][1].weights["W1"])
    states = [result.state for _, result in hook.sweepnet_sweep_history(sweep=resumed)]
    assert states == [TrialState.COMPLETED] * 2 + [TrialState.FAILED] + [TrialState.COMPLETED] * 2


def test_a_sqlite_store_reads_back_without_mlflow_as_mlflow_reads_it(layout, store, monkeypatch):
    from sweepnet.tracking import reader

    direct = read_sweep("layout", store, histories=True)
    monkeypatch.setattr(reader, "_from_sqlite", lambda uri, read: reader._NOT_READ)
    through_mlflow = read_sweep("layout", store, histories=True)
    assert direct == through_mlflow
    assert len(direct.entries) == 4 and direct.is_complete()
    assert [len(result.history) for _, result in direct.entries] == [3, 3, 1, 2]
    assert reader.recorded_sweep("layout", store) == (layout[0].config_text, ["solver.num_epochs=3"])
    assert reader.recorded_data_meta("layout", store) == layout[0].data_meta
