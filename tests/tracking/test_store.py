"""Opening the store: where it is, how a new SQLite store appears, and store faults that must
cost nothing -- a corrupt, read-only or full store, an unusable name -- as real faults."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweepnet import tracking
from sweepnet.errors import ConfigError
from sweepnet.records import TrialResult, TrialState
from sweepnet.tracking import TrackingError
from sweepnet.tracking.store import client

from .sweeps import artifacts_of, load_npz, make_spec, make_sweep, record_trial, runs_of


def test_a_new_sqlite_store_appears_complete_and_keeps_a_write_ahead_log(tmp_path):
    import sqlalchemy

    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    client(uri).create_experiment("first")
    assert {path.name for path in (tmp_path / "results").iterdir()} <= {"mlflow.db", "mlflow.db-wal", "mlflow.db-shm"}
    with sqlite3.connect(tmp_path / "results" / "mlflow.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    engine = sqlalchemy.create_engine(uri)  # any engine of this process: syncs at checkpoints only
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    engine.dispose()
    assert [experiment.name for experiment in client(uri).search_experiments()] == ["first", "Default"]


_OPEN_AND_CREATE = """
import sys
from sweepnet.tracking.store import client
client(sys.argv[1]).create_experiment(sys.argv[2])
"""


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AND_CREATE, uri, f"sweep-{index}"], stderr=subprocess.PIPE, text=True
        )
        for index in range(4)
    ]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, errors
    names = {experiment.name for experiment in MlflowClient(uri).search_experiments()}
    assert {f"sweep-{index}" for index in range(4)} <= names
    store_files = {"mlflow.db", "mlflow.db-wal", "mlflow.db-shm"}  # the store and its write-ahead log
    assert {path.name for path in (tmp_path / "store").iterdir()} <= store_files, "no private files left behind"


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


# --------------------------------------------------------------------------- faults: one clear line, at once


def _fails_fast(call, match: str) -> str:
    start = time.monotonic()
    with pytest.raises(TrackingError, match=match) as raised:
        call()
    assert time.monotonic() - start < 10, "a store fault must fail in seconds, not after retries"
    message = str(raised.value)
    assert "\n" not in message and len(message) < 600
    return message


def test_a_corrupt_sqlite_store_is_one_line_before_any_trial(hook, tmp_path):
    path = tmp_path / "mlflow.db"
    path.write_bytes(b"this is not a database, just bytes\n" * 200)
    uri = f"sqlite:///{path}"
    message = _fails_fast(
        lambda: hook.sweepnet_sweep_prepare(sweep=make_sweep("corrupt", uri)), f"tracking store {uri}"
    )
    assert "file is not a database" in message


@contextlib.contextmanager
def tmpfs(folder: Path, size: str):
    """A tmpfs of ``size`` mounted at ``folder`` (root only); skips the test where it cannot be mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def test_a_read_only_sqlite_store_is_one_line_before_any_trial(hook, tmp_path):
    uri = f"sqlite:///{tmp_path / 'ro' / 'mlflow.db'}"
    if os.geteuid() != 0:  # permissions stop anyone but root
        client(uri)
        (tmp_path / "ro" / "mlflow.db").chmod(0o444)
        (tmp_path / "ro").chmod(0o555)
        _fails_fast(lambda: hook.sweepnet_sweep_prepare(sweep=make_sweep("ro", uri)), f"tracking store {uri}")
        return
    with tmpfs(tmp_path / "rw", "64m") as folder:  # root writes anything: a read-only mount stops it
        client(f"sqlite:///{folder / 'mlflow.db'}").create_experiment("earlier")
        view = tmp_path / "ro"
        view.mkdir()
        subprocess.run(["mount", "--bind", str(folder), str(view)], check=True)
        try:
            _remount(view, "bind,ro")
            message = _fails_fast(
                lambda: hook.sweepnet_sweep_prepare(sweep=make_sweep("ro", uri)), f"tracking store {uri}"
            )
            assert any(words in message.lower() for words in ("readonly", "read-only", "unable to open"))
        finally:
            subprocess.run(["umount", "-l", str(view)], check=False)


@pytest.mark.slow
def test_a_full_disk_saves_the_rest_elsewhere_and_resume_writes_it_with_the_weights(hook, tmp_path, monkeypatch):
    """The store's disk fills up mid-sweep: the sweep fails with one line naming a complete file
    saved elsewhere; once space is back, resuming writes every run, FINISHED, with its weights."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with tmpfs(tmp_path / "small", "4m") as folder:
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        sweep = make_sweep("full-disk", uri, flush_timeout=2.0)
        hook.sweepnet_sweep_start(sweep=sweep)
        (folder / "ballast").write_bytes(b"\0" * (4 * 2**20 - (folder / "mlflow.db").stat().st_size - 300_000))
        entries = []
        for number in range(12):
            entries.append(record_trial(hook, sweep, number, score=0.3 + 0.05 * number))  # each one a new best
        with pytest.raises(TrackingError) as raised:
            hook.sweepnet_sweep_end(sweep=sweep, results=[result for _, result in entries])
        message = str(raised.value)
        assert "\n" not in message and "saved in" in message
        saved = Path(message.split("saved in ")[1].split(";")[0])
        assert saved.is_file() and saved.stat().st_size > 1000 and not saved.is_relative_to(folder)
        assert json.loads(saved.read_text())["unwritten"], "the file holds what the store did not take"
        assert not list(folder.glob("unwritten/*")), "nothing cut or empty left on the full disk"

        (folder / "ballast").unlink()
        _remount(folder, "size=64m")
        assert tracking.replay_unwritten(uri, "full-disk") == [saved]
        [parent], children = runs_of(uri, "full-disk")
        assert sorted(children) == list(range(12)) and parent.info.status == "FINISHED"
        for spec, _result in entries:
            run = children[spec.number]
            assert run.info.status == "FINISHED" and run.data.tags["sweepnet.state"] == "COMPLETED"
            assert "model.npz" in artifacts_of(uri, run)  # every trial was the best when it ended
        assert "best_model.npz" in artifacts_of(uri, parent)


def test_sweep_names_that_cannot_be_a_record_are_refused(hook, store):
    for name, reason in (
        ("x" * 100_000, "at most 200 characters, got 100000"),
        ("..", "must not be '..'"),
        (".", "must not be '.'"),
        ("--help", "must not start with '-'"),
        ("a/b", "not '/'"),
    ):
        with pytest.raises(ConfigError, match=f"^name: .*{reason}") as raised:
            hook.sweepnet_sweep_start(sweep=make_sweep(name, store))
        assert len(str(raised.value)) < 200


def test_the_unwritten_file_goes_to_the_next_folder_that_takes_it_whole(tmp_path, monkeypatch):
    """A folder that cannot take the file (ENOSPC, here a path under a file) leaves nothing behind."""
    from sweepnet.tracking.backend import RunWrite
    from sweepnet.tracking.unwritten import save_unwritten, unwritten_folders

    (tmp_path / "blocked").write_text("a file where the store's folder would be")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    uri = f"sqlite:///{tmp_path / 'blocked' / 'mlflow.db'}"
    record = RunWrite("t1", tags={"sweepnet.state": "COMPLETED"}, artifacts={"model.npz": b"\x93NUMPY" * 100})
    path = save_unwritten(uri, "s", "1", {"": "abc"}, [record], "disk full")
    assert path.parent == unwritten_folders(uri)[1] == tmp_path / "state" / "sweepnet" / "unwritten"
    assert json.loads(path.read_text())["unwritten"][0]["tags"] == {"sweepnet.state": "COMPLETED"}
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file left"


def test_a_failed_trial_left_running_by_an_outage_is_finished_by_resume(hook, store, monkeypatch, tmp_path):
    """A run created before an outage whose end only reached the file: replaying it finishes it."""
    from sweepnet.tracking import backend

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    sweep = make_sweep("left-running", store, flush_timeout=1.0)
    hook.sweepnet_sweep_start(sweep=sweep)
    spec = make_spec(0)
    hook.sweepnet_trial_start(sweep=sweep, trial=spec)
    deadline = time.monotonic() + 30
    while not runs_of(store, "left-running")[1]:  # the run exists, RUNNING
        assert time.monotonic() < deadline
        time.sleep(0.1)
    failing = threading.Event()
    failing.set()
    real = backend.Backend.write_one

    def down(self, record):
        if failing.is_set():
            raise MlflowException("API request to the store failed with exception ConnectionError: refused")
        return real(self, record)

    monkeypatch.setattr(backend.Backend, "write_one", down)
    history = [{"epoch": 1, "loss": 1.0, "val_acc": 0.9}]
    hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=1, metrics={"loss": 1.0, "val_acc": 0.9})
    weights = {"W1": np.ones((3, 2))}
    result = TrialResult(spec.trial_id, TrialState.COMPLETED, {"val_acc": 0.9}, history, 1.0, weights)
    hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
    with pytest.raises(TrackingError):
        hook.sweepnet_sweep_end(sweep=sweep, results=[result])
    [run] = runs_of(store, "left-running")[1].values()
    assert run.info.status == "RUNNING"
    failing.clear()
    resumed = make_sweep("left-running", store, resumed=True)
    [(_, recorded)] = hook.sweepnet_sweep_history(sweep=resumed)  # replays the file first
    assert recorded.state is TrialState.COMPLETED
    [run] = runs_of(store, "left-running")[1].values()
    assert run.info.status == "FINISHED" and "model.npz" in artifacts_of(store, run)
