"""The MLflow tracker: layout, batching, outages and resume.

Sweeps are driven through the plugin manager's lifecycle hooks with records built here, as the
scheduler calls them. Fast tests use a SQLite store (with faults injected into the client);
the slow ones run against a real ``mlflow server`` process that is killed and restarted.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweepnet import __version__, leaderboard, tracking
from sweepnet.bundle import ModelBundle
from sweepnet.config import plan_from_text
from sweepnet.data.dataset import DatasetMeta
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState
from sweepnet.tracking import FINAL_PREFIX, TrackingError
from sweepnet.trial import run_trial

SWEEP_FILE = """\
name: {name}
data: {{name: digits}}
model:
  name: fc_net
  hidden_dims: [{{grid: [8, 16]}}]
  reg: {{grid: [0.0, 0.1]}}
solver:
  num_epochs: 3
  optim_config: {{learning_rate: {{loguniform: [1.0e-4, 1.0e-1]}}}}
"""
LR, REG, HIDDEN = "solver.optim_config.learning_rate", "model.reg", "model.hidden_dims[0]"
PER_EPOCH = ("loss", "train_acc", "val_acc", "lr")


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One SQLite store for the module (creating its tables takes a second); tests use their own sweep names."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


@pytest.fixture
def hook():
    return create_plugin_manager(autoload=False).hook


def make_sweep(name: str, uri: str | None, *, resumed: bool = False, **settings) -> SweepInfo:
    text = SWEEP_FILE.format(name=name)
    config = {**yaml.safe_load(text), "tracking": {"uri": uri, "enabled": True, **settings}}
    meta = DatasetMeta("digits", "classification", (1, 8, 8), num_classes=10)
    return SweepInfo(name, config, text, "val_acc", "max", resumed, ("solver.num_epochs=3",), meta)


def make_spec(number: int) -> TrialSpec:
    params = {LR: 10.0 ** -(1 + number % 3), REG: (0.0, 0.1)[number % 2], HIDDEN: (8, 16)[number // 2 % 2]}
    config = {"model": {"name": "fc_net", "hidden_dims": [params[HIDDEN]], "reg": params[REG]}, "lr": params[LR]}
    return TrialSpec(f"{number:02d}" + "c0ffee" * 6 + "ab", number, params, config, seed=1000 + number)


def record_trial(hook, sweep, number, *, score=0.5, epochs=3, state=TrialState.COMPLETED, end=True):
    """Start trial ``number``, report ``epochs`` epochs, end it in ``state``; returns (spec, result)."""
    spec = make_spec(number)
    hook.sweepnet_trial_start(sweep=sweep, trial=spec)
    history = []
    for epoch in range(1, epochs + 1):
        metrics = {"loss": 2.0 / epoch, "train_acc": score * epoch / epochs + 0.05, "val_acc": score * epoch / epochs}
        metrics["lr"] = spec.params[LR] * 0.9 ** (epoch - 1)
        hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=epoch, metrics=metrics)
        history.append({"epoch": epoch, **metrics})
    result = TrialResult(
        spec.trial_id,
        state,
        metrics={"val_acc": score, "test_acc": score - 0.01, "epochs": float(epochs)} if history else {},
        history=history,
        duration_s=1.25 + number,
        weights={"W1": np.random.default_rng(number).standard_normal((64, 8)), "b1": np.zeros(8)},
        node="127.0.0.1",
        worker=f"worker-{number % 2}",
        retries=number % 2,
    )
    if state is TrialState.FAILED:
        result.metrics, result.weights = {}, None
        result.error = "Traceback (most recent call last):\n  File 'x.py', line 1\nValueError: bad shapes (3, 4)\n"
    if end:
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
    return spec, result


def runs_of(uri: str, name: str):
    """(parent runs, child runs by trial number) of sweep ``name``, straight from the store."""
    runs = _search(uri, name)
    parents = [run for run in runs if run.data.tags["sweepnet.kind"] == "sweep"]
    trials = [run for run in runs if run.data.tags["sweepnet.kind"] == "trial"]
    children = {int(run.data.tags["sweepnet.trial_number"]): run for run in trials}
    assert len(children) == len(trials), "two active runs for one trial"
    return parents, children


def deleted_trials(uri: str, name: str) -> list[int]:
    """Trial numbers of the deleted child runs of sweep ``name``."""
    return sorted(int(run.data.tags["sweepnet.trial_number"]) for run in _search(uri, name, ViewType.DELETED_ONLY))


def _search(uri: str, name: str, view=ViewType.ACTIVE_ONLY):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    return client.search_runs([experiment.experiment_id], run_view_type=view, max_results=1000)


def artifact(uri: str, run, path: str, tmp_path: Path) -> bytes:
    folder = tmp_path / run.info.run_id
    folder.mkdir(exist_ok=True)
    return Path(MlflowClient(uri).download_artifacts(run.info.run_id, path, str(folder))).read_bytes()


def history_of(uri: str, run, key: str) -> list[tuple[int, float]]:
    return sorted((point.step, point.value) for point in MlflowClient(uri).get_metric_history(run.info.run_id, key))


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    """The weights in a model file (``model.npz``, ``best_model.npz``; see sweepnet.bundle)."""
    return ModelBundle.read(data).weights


# --------------------------------------------------------------------------- layout


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


def test_a_child_run_keeps_its_curves_weights_and_traceback(layout, store):
    _, entries, _, children, downloads = layout
    for spec, result in entries:
        run = children[spec.number]
        assert artifact(store, run, "curves.png", downloads).startswith(b"\x89PNG")
        if result.weights is not None:
            weights = load_npz(artifact(store, run, "model.npz", downloads))
            np.testing.assert_array_equal(weights["W1"], result.weights["W1"])
    failed = children[2]
    assert failed.data.tags["sweepnet.error"] == "ValueError: bad shapes (3, 4)"
    assert artifact(store, failed, "error.txt", downloads).decode() == entries[2][1].error
    assert "model.npz" not in {info.path for info in MlflowClient(store).list_artifacts(failed.info.run_id)}


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
    plots = {info.path for info in MlflowClient(store).list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/val_acc_vs_params.png", "plots/heatmap.png", "plots/first_layer_weights.png"} <= plots


def test_metrics_go_out_in_batches_never_one_call_per_value(store, hook, monkeypatch):
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
    results = [record_trial(hook, sweep, number, epochs=20)[1] for number in range(4)]
    hook.sweepnet_sweep_end(sweep=sweep, results=results)

    reports = 4 * 20
    final = 4 * 3 + 3  # val_acc, test_acc, epochs of each trial, then of the best one on the parent
    assert sum(calls) == reports * len(PER_EPOCH) + final
    assert len([count for count in calls if count]) < 20  # a few batches per trial, not one per report
    _, children = runs_of(store, "batching")
    assert all(len(history_of(store, run, "loss")) == 20 for run in children.values())


def test_the_hooks_never_wait_for_the_store(store, hook, monkeypatch):
    """While every write to the store hangs, the hooks still return at once."""
    release = threading.Event()
    real_log_batch = MlflowClient.log_batch

    def hanging_log_batch(self, *args, **kwargs):
        assert release.wait(timeout=30), "the test never released the store"
        return real_log_batch(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", hanging_log_batch)
    sweep = make_sweep("nonblocking", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    results = [record_trial(hook, sweep, number, epochs=5)[1] for number in range(3)]  # would hang if they waited
    release.set()
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    _, children = runs_of(store, "nonblocking")
    assert sorted(children) == [0, 1, 2]


# --------------------------------------------------------------------------- outages


def _flaky(monkeypatch, failing: threading.Event) -> list[str]:
    """Make every store write fail like a refused connection while ``failing`` is set."""
    failures = []
    for name in ("create_experiment", "create_run", "log_batch", "log_artifact", "set_terminated"):
        real = getattr(MlflowClient, name)

        def flaky(self, *args, _real=real, _name=name, **kwargs):
            if failing.is_set():
                failures.append(_name)
                raise MlflowException("API request to the store failed with exception ConnectionError: refused")
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(MlflowClient, name, flaky)
    return failures


def test_an_outage_loses_nothing_the_writes_are_retried(store, hook, monkeypatch):
    failing = threading.Event()
    failures = _flaky(monkeypatch, failing)
    sweep = make_sweep("outage", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    results = [record_trial(hook, sweep, 0, score=0.7)[1]]
    failing.set()
    results += [record_trial(hook, sweep, number)[1] for number in (1, 2)]
    deadline = time.monotonic() + 10
    while not failures and time.monotonic() < deadline:
        time.sleep(0.05)
    assert failures, "the writer never tried the store during the outage"
    threading.Timer(0.5, failing.clear).start()  # the store comes back while sweep_end waits
    hook.sweepnet_sweep_end(sweep=sweep, results=results)

    [parent], children = runs_of(store, "outage")
    assert sorted(children) == [0, 1, 2] and parent.info.status == "FINISHED"
    for number, run in children.items():
        assert [step for step, _ in history_of(store, run, "val_acc")] == [1, 2, 3]
        assert run.data.tags["sweepnet.state"] == "COMPLETED" and FINAL_PREFIX + "test_acc" in run.data.metrics


def test_a_store_down_for_good_fails_loudly_and_saves_everything_to_json(store, hook, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    failing = threading.Event()
    failing.set()
    _flaky(monkeypatch, failing)
    sweep = make_sweep("down-for-good", store, flush_timeout=1.0)
    hook.sweepnet_sweep_start(sweep=sweep)
    entries = [record_trial(hook, sweep, 0, score=0.7), record_trial(hook, sweep, 1, state=TrialState.FAILED, epochs=1)]
    with pytest.raises(TrackingError) as raised:
        hook.sweepnet_sweep_end(sweep=sweep, results=[result for _, result in entries])

    message = str(raised.value)
    assert "\n" not in message and f"tracking store {store}" in message and "ConnectionError" in message
    [saved] = (tmp_path / "sweepnet-results").glob("unwritten-down-for-good-*.json")
    assert str(saved) in message
    payload = json.loads(saved.read_text())
    assert payload["tracking_uri"] == store and payload["experiment"] == "down-for-good"
    records = payload["unwritten"]
    parent = [record for record in records if record["run"] == "sweep"]
    assert parent[0]["artifacts"]["sweep.yaml"]["base64"]
    summary = {"leaderboard.csv", "best_model.npz", "best.json", "plots/first_layer_weights.png"}
    assert summary <= set(parent[-1]["artifacts"])
    assert parent[-1]["status"] == "FINISHED"
    for spec, result in entries:
        mine = [record for record in records if record["run"] == spec.trial_id]
        assert json.loads(mine[0]["create_tags"]["sweepnet.params"]) == spec.params
        points = {(m["key"], m["step"]): m["value"] for record in mine for m in record["metrics"]}
        for row in result.history:
            assert all(points[(key, row["epoch"])] == pytest.approx(row[key]) for key in PER_EPOCH)
        assert all(points[(FINAL_PREFIX + key, 0)] == pytest.approx(value) for key, value in result.metrics.items())
        assert mine[-1]["tags"]["sweepnet.state"] == result.state.value
        assert mine[-1]["status"] == ("FINISHED" if result.state is TrialState.COMPLETED else "FAILED")


# --------------------------------------------------------------------------- resume


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
    assert deleted_trials(store, "resumable") == [3, 4, 4]
    assert parent.info.status == "FINISHED" and children[3].data.tags["sweepnet.state"] == "COMPLETED"
    assert history_of(store, children[3], "val_acc") == [(e, pytest.approx(0.5 * e / 3)) for e in (1, 2, 3)]
    final = [*recorded[:3], *rerun]
    assert artifact(store, parent, "leaderboard.csv", tmp_path).decode() == leaderboard.to_csv(final, "val_acc", "max")
    best = load_npz(artifact(store, parent, "best_model.npz", tmp_path))  # trial 1, from the first invocation
    np.testing.assert_array_equal(best["W1"], recorded[1][1].weights["W1"])
    states = [result.state for _, result in hook.sweepnet_sweep_history(sweep=resumed)]
    assert states == [TrialState.COMPLETED] * 2 + [TrialState.FAILED] + [TrialState.COMPLETED] * 2


def test_recorded_sweep_gives_the_file_and_overrides_of_the_latest_invocation(store, hook):
    sweep = make_sweep("recorded", store)
    hook.sweepnet_sweep_start(sweep=sweep)
    hook.sweepnet_sweep_end(sweep=sweep, results=[])
    assert tracking.recorded_sweep("recorded", store) == (sweep.config_text, ["solver.num_epochs=3"])

    in_code = SweepInfo("in-code", {"tracking": {"uri": store}}, "", "val_acc", "max")
    hook.sweepnet_sweep_start(sweep=in_code)
    hook.sweepnet_sweep_end(sweep=in_code, results=[])
    with pytest.raises(TrackingError, match="'in-code' .* was not started from a sweep file"):
        tracking.recorded_sweep("in-code", store)


def test_an_unknown_sweep_has_no_history_and_cannot_be_read(store, hook, tmp_path):
    assert hook.sweepnet_sweep_history(sweep=make_sweep("never-ran", store)) == []
    with pytest.raises(TrackingError, match=f"no sweep named 'never-ran' in tracking store {store}"):
        tracking.read_sweep("never-ran", store)
    missing = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    with pytest.raises(TrackingError, match="no sweep named 'x'"):
        tracking.recorded_sweep("x", missing)
    assert not (tmp_path / "nowhere").exists(), "reading must not create a store"


def test_a_new_sqlite_store_appears_complete_and_keeps_a_write_ahead_log(tmp_path):
    import sqlalchemy

    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    tracking._client(uri).create_experiment("first")
    assert {path.name for path in (tmp_path / "results").iterdir()} <= {"mlflow.db", "mlflow.db-wal", "mlflow.db-shm"}
    with sqlite3.connect(tmp_path / "results" / "mlflow.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    engine = sqlalchemy.create_engine(uri)  # any engine of this process: syncs at checkpoints only
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    engine.dispose()
    assert [experiment.name for experiment in tracking._client(uri).search_experiments()] == ["first", "Default"]


# --------------------------------------------------------------------------- configuration


def test_the_default_store_is_sqlite_under_the_working_directory(hook, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    sweep = make_sweep("default-store", None)
    hook.sweepnet_sweep_start(sweep=sweep)
    monkeypatch.chdir(tmp_path.parent)  # the store stays where the sweep started
    results = [record_trial(hook, sweep, 0)[1]]
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    assert (tmp_path / "sweepnet-results" / "mlflow.db").is_file()
    [model] = (tmp_path / "sweepnet-results" / "artifacts" / "default-store").glob("*/artifacts/model.npz")
    assert np.array_equal(load_npz(model.read_bytes())["W1"], results[0].weights["W1"])
    monkeypatch.chdir(tmp_path)
    assert [spec.number for spec, _ in tracking.read_sweep("default-store").entries] == [0]


def test_tracking_uri_precedence_is_flag_then_config_then_environment_then_default(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.resolve_tracking_uri() == "sqlite:///sweepnet-results/mlflow.db" == tracking.DEFAULT_TRACKING_URI
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.resolve_tracking_uri() == "http://127.0.0.1:5000"
    assert tracking.resolve_tracking_uri(config_uri="sqlite:///a.db") == "sqlite:///a.db"
    assert tracking.resolve_tracking_uri("sqlite:///flag.db", "sqlite:///a.db") == "sqlite:///flag.db"


def test_disabled_tracking_writes_nothing_and_keeps_no_history(hook, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = make_sweep("off", None, enabled=False)
    hook.sweepnet_sweep_start(sweep=sweep)
    results = [record_trial(hook, sweep, 0)[1]]
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    assert hook.sweepnet_sweep_history(sweep=sweep) is None
    assert list(tmp_path.iterdir()) == []


def test_building_the_registries_as_a_worker_does_never_loads_mlflow():
    """The tracker is a default plugin, so every Ray worker imports it: MLflow must stay out."""
    code = (
        "import sys\n"
        "from sweepnet.pluginmanager import get_registries\n"
        "get_registries()\n"
        "assert 'sweepnet.tracking' in sys.modules\n"
        "print([name for name in ('mlflow', 'matplotlib') if name in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_an_unusable_tracking_uri_fails_at_sweep_prepare_and_start_naming_it(hook):
    for call in (hook.sweepnet_sweep_prepare, hook.sweepnet_sweep_start):
        with pytest.raises(TrackingError, match="tracking store htp://127.0.0.1:5000: "):
            call(sweep=make_sweep("typo", "htp://127.0.0.1:5000"))


def test_sweep_prepare_opens_the_store_and_records_nothing(hook, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    hook.sweepnet_sweep_prepare(sweep=make_sweep("prepared", uri))
    assert [experiment.name for experiment in tracking._client(uri).search_experiments()] == ["Default"]
    hook.sweepnet_sweep_prepare(sweep=make_sweep("untracked", "htp://127.0.0.1:5000", enabled=False))  # not opened


# --------------------------------------------------------------------------- real trials

DIGITS_FC = """\
name: digits-fc
data: {name: digits, flatten: true, standardize: true}
model: {name: fc, hidden_dims: [32]}
solver:
  update_rule: adam
  optim_config: {learning_rate: {grid: [1e-3, 1e-2]}}
  batch_size: 64
  num_epochs: 2
search: {searcher: grid}
"""
DIGITS_KNN_CV = """\
name: digits-knn
data: {name: digits, num_train: 300, flatten: true, cv: 3}
model: {name: knn, k: {grid: [1, 3, 7]}}
search: {searcher: grid}
"""


def sweep_for_real(hook, text: str, uri: str) -> tuple[SweepInfo, list[tuple[TrialSpec, TrialResult]]]:
    """Run every point of a grid sweep file with ``run_trial``, calling the hooks as the scheduler does."""
    plan = plan_from_text(text, [f"tracking.uri={uri}"], source="digits.yaml")
    dataset = plan.load_dataset()
    sweep = plan.sweep_info(data_meta=dataset.meta)
    hook.sweepnet_sweep_start(sweep=sweep)
    searcher, entries = plan.make_searcher(), []
    while (params := searcher.ask()) is not None:
        spec = plan.trial_spec(params, len(entries))
        hook.sweepnet_trial_start(sweep=sweep, trial=spec)

        def report(epoch, metrics, spec=spec):
            hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=epoch, metrics=metrics)
            return False

        result = run_trial(spec, report, dataset=dataset)
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
        entries.append((spec, result))
    hook.sweepnet_sweep_end(sweep=sweep, results=[result for _, result in entries])
    return sweep, entries


def check_digits_fc(uri: str, entries, downloads: Path) -> None:
    """The FC grid's runs: every epoch of every metric, final metrics, weights and the weight image."""
    [parent], children = runs_of(uri, "digits-fc")
    assert len(children) == 2 and all(run.info.status == "FINISHED" for run in children.values())
    for spec, result in entries:
        run = children[spec.number]
        assert result.state is TrialState.COMPLETED, result.error
        for key in ("loss", "train_acc", "val_acc", "lr"):
            expected = [(row["epoch"], pytest.approx(row[key])) for row in result.history]
            assert history_of(uri, run, key) == expected and len(expected) == 2
        assert run.data.metrics[FINAL_PREFIX + "test_acc"] == pytest.approx(result.metrics["test_acc"])
    best_spec, best_result = max(entries, key=lambda entry: entry[1].metrics["val_acc"])
    assert parent.data.tags["sweepnet.best_trial"] == best_spec.trial_id
    best = load_npz(artifact(uri, parent, "best_model.npz", downloads))
    assert best.keys() == best_result.weights.keys()
    assert all(np.array_equal(best[name], best_result.weights[name]) for name in best)
    plots = {info.path for info in MlflowClient(uri).list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/val_acc_vs_params.png", "plots/first_layer_weights.png"} <= plots  # 64 inputs: 8x8 images


@pytest.mark.slow
def test_real_digits_trials_are_recorded(store, hook, tmp_path):
    _, entries = sweep_for_real(hook, DIGITS_FC, store)
    check_digits_fc(store, entries, tmp_path)


@pytest.mark.slow
def test_real_cross_validated_trials_get_the_k_vs_accuracy_plot(store, hook, tmp_path):
    _, entries = sweep_for_real(hook, DIGITS_KNN_CV, store)
    [parent], children = runs_of(store, "digits-knn")
    for spec, result in entries:
        metrics = children[spec.number].data.metrics
        assert metrics[FINAL_PREFIX + "val_acc_std"] == pytest.approx(result.metrics["val_acc_std"])
        assert {FINAL_PREFIX + f"val_acc_fold{i}" for i in range(3)} <= metrics.keys()
    plots = {info.path for info in MlflowClient(store).list_artifacts(parent.info.run_id, "plots")}
    assert "plots/cross_validation.png" in plots
    assert artifact(store, parent, "plots/cross_validation.png", tmp_path).startswith(b"\x89PNG")


# --------------------------------------------------------------------------- a real mlflow server (slow)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MlflowServer:
    """An ``mlflow server`` on 127.0.0.1 with a SQLite backend and artifacts in ``folder``; restartable."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
            "--artifacts-destination", str(self.folder / "artifacts"),
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "server.log").read_text()[-2000:]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("mlflow server did not start within 60 s")

    def kill(self) -> None:
        """SIGKILL the server and its workers (its own process group), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


@pytest.fixture
def server(tmp_path):
    server = MlflowServer(tmp_path / "server")
    server.folder.mkdir()
    server.start()
    yield server
    server.kill()


def _wait_for_children(uri: str, name: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _, children = runs_of(uri, name)
            if len(children) >= count and all(run.info.status != "RUNNING" for run in children.values()):
                return
        except (MlflowException, AttributeError):  # AttributeError: the experiment does not exist yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"{count} trials never reached the store")


@pytest.mark.slow
def test_against_a_server_that_crashes_and_comes_back_nothing_is_lost(server, hook, tmp_path):
    sweep = make_sweep("server-restart", server.uri)
    hook.sweepnet_sweep_start(sweep=sweep)
    entries = [record_trial(hook, sweep, 0, score=0.6), record_trial(hook, sweep, 1, score=0.8)]
    _wait_for_children(server.uri, "server-restart", 2)
    server.kill()
    entries.append(record_trial(hook, sweep, 2, score=0.9, epochs=4))  # written while the store is down
    entries.append(record_trial(hook, sweep, 3, state=TrialState.FAILED))
    time.sleep(1.0)  # the writer fails and backs off meanwhile
    server.start()  # same port, same store
    hook.sweepnet_sweep_end(sweep=sweep, results=[result for _, result in entries])

    [parent], children = runs_of(server.uri, "server-restart")
    assert sorted(children) == [0, 1, 2, 3] and parent.info.status == "FINISHED"
    for spec, result in entries:
        run = children[spec.number]
        assert run.data.tags["sweepnet.state"] == result.state.value
        for key in PER_EPOCH:
            expected = [(row["epoch"], pytest.approx(row[key])) for row in result.history]
            assert history_of(server.uri, run, key) == expected
    assert artifact(server.uri, children[2], "curves.png", tmp_path).startswith(b"\x89PNG")
    best = load_npz(artifact(server.uri, parent, "best_model.npz", tmp_path))
    np.testing.assert_array_equal(best["W1"], entries[2][1].weights["W1"])
    assert json.loads(artifact(server.uri, parent, "best.json", tmp_path))["number"] == 2
    assert artifact(server.uri, parent, "sweep.yaml", tmp_path).decode() == sweep.config_text
    markdown = artifact(server.uri, parent, "leaderboard.md", tmp_path).decode()
    assert markdown == leaderboard.to_markdown(entries, "val_acc", "max")

    resumed = make_sweep("server-restart", server.uri, resumed=True)
    assert [(s.trial_id, r.state) for s, r in hook.sweepnet_sweep_history(sweep=resumed)] == [
        (spec.trial_id, result.state) for spec, result in entries
    ]


@pytest.mark.slow
def test_against_a_server_down_for_good_the_json_holds_the_rest(server, hook, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = make_sweep("server-gone", server.uri, flush_timeout=2.0)
    hook.sweepnet_sweep_start(sweep=sweep)
    written = record_trial(hook, sweep, 0, score=0.6)
    _wait_for_children(server.uri, "server-gone", 1)
    server.kill()
    lost = [record_trial(hook, sweep, 1, score=0.8), record_trial(hook, sweep, 2, score=0.7)]
    with pytest.raises(TrackingError, match=f"tracking store {server.uri} still unreachable after 2 s") as raised:
        hook.sweepnet_sweep_end(sweep=sweep, results=[written[1], *(result for _, result in lost)])

    [saved] = (tmp_path / "sweepnet-results").glob("unwritten-server-gone-*.json")
    assert str(saved) in str(raised.value)
    payload = json.loads(saved.read_text())
    records = payload["unwritten"]
    assert {record["run"] for record in records} == {"sweep", *(spec.trial_id for spec, _ in lost)}
    for spec, result in lost:
        mine = [record for record in records if record["run"] == spec.trial_id]
        steps = sorted({m["step"] for record in mine for m in record["metrics"] if m["key"] == "val_acc"})
        assert steps == [1, 2, 3] and "model.npz" in mine[-1]["artifacts"]
        assert mine[-1]["tags"]["sweepnet.state"] == "COMPLETED"
    best = load_npz(base64.b64decode(records[-1]["artifacts"]["best_model.npz"]["base64"]))
    np.testing.assert_array_equal(best["W1"], lost[0][1].weights["W1"])
    assert payload["runs"]["sweep"] and payload["runs"][written[0].trial_id]  # already written: ids recorded


@pytest.mark.slow
def test_real_digits_trials_against_a_server(server, hook, tmp_path):
    _, entries = sweep_for_real(hook, DIGITS_FC, server.uri)
    check_digits_fc(server.uri, entries, tmp_path)


_OPEN_AND_CREATE = """
import sys
from sweepnet.tracking import _client
client = _client(sys.argv[1])
client.create_experiment(sys.argv[2])
"""


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    processes = [
        subprocess.Popen([sys.executable, "-c", _OPEN_AND_CREATE, uri, f"sweep-{index}"], stderr=subprocess.PIPE, text=True)
        for index in range(4)
    ]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, errors
    names = {experiment.name for experiment in MlflowClient(uri).search_experiments()}
    assert {f"sweep-{index}" for index in range(4)} <= names
    store_files = {"mlflow.db", "mlflow.db-wal", "mlflow.db-shm"}  # the store and its write-ahead log
    assert {path.name for path in (tmp_path / "store").iterdir()} <= store_files, "no private files left behind"
