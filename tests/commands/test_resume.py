"""``sweepnet resume SWEEP``: a recorded sweep with nothing left to run is decided without Ray, and
on a SQLite store without MLflow or the data set."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sweepnet import scheduler
from sweepnet.cli import main
from sweepnet.config import plan_from_text
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import TrialResult, TrialState
from sweepnet.search import grid_points
from sweepnet.tracking import read_sweep

SWEEP = """\
name: finished
data: {name: digits, flatten: true, num_train: 50}
model: {name: softmax, reg: {grid: [0.001, 0.01, 0.1]}, num_iters: 1, batch_size: 50}
search: {searcher: grid}
"""


@pytest.fixture
def finished_sweep(tmp_path, monkeypatch):
    """A store holding sweep ``finished`` with every grid point COMPLETED; returns its URI."""
    monkeypatch.setenv("COLUMNS", "200")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    plan = plan_from_text(SWEEP, [f"tracking.uri={uri}"], source="finished.yaml")
    hook = create_plugin_manager(autoload=False).hook
    sweep = plan.bind(plan.load_dataset().meta).sweep
    hook.sweepnet_sweep_start(sweep=sweep)
    results = []
    for number, params in enumerate(grid_points(plan.space)):
        spec = plan.trial_spec(params, number)
        hook.sweepnet_trial_start(sweep=sweep, trial=spec)
        history = [{"epoch": 1.0, "loss": 2.0, "train_acc": 0.3, "val_acc": 0.2 + number / 10}]
        metrics = {"val_acc": 0.2 + number / 10, "test_acc": 0.2, "train_acc": 0.3, "epochs": 1.0}
        result = TrialResult(spec.trial_id, TrialState.COMPLETED, metrics, history, 0.1, {"W": np.ones((64, 10))})
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
        results.append(result)
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    return uri


def test_resume_with_nothing_left_decides_without_starting_ray(finished_sweep, monkeypatch, capsys):
    def no_ray(*args, **kwargs):
        raise AssertionError("resume started Ray with nothing left to run")

    monkeypatch.setattr(scheduler, "_connect", no_ray)
    before = read_sweep("finished", finished_sweep)
    assert main(["resume", "finished", "--tracking-uri", finished_sweep]) == 0
    out = capsys.readouterr().out
    assert "3 trials (3 completed)" in out and "best: trial 2" in out
    after = read_sweep("finished", finished_sweep)
    assert after.status == "FINISHED" and after.run_id == before.run_id and after.trials == 3
    assert [spec.trial_id for spec, _ in after.entries] == [spec.trial_id for spec, _ in before.entries]


def test_resume_with_trials_left_starts_ray(finished_sweep, monkeypatch):
    started = []

    def connect(*args, **kwargs):
        started.append(True)
        raise scheduler.SweepnetError("stop here")

    monkeypatch.setattr(scheduler, "_connect", connect)
    extended = SWEEP.replace("[0.001, 0.01, 0.1]", "[0.001, 0.01, 0.1, 1.0]")
    monkeypatch.setattr("sweepnet.tracking.recorded_sweep", lambda name, uri: (extended, []))
    assert main(["resume", "finished", "--tracking-uri", finished_sweep]) == 2
    assert started == [True]


def test_nothing_left_on_sqlite_loads_neither_mlflow_nor_the_data_and_leaves_the_record_as_it_is(finished_sweep):
    def runs() -> list[tuple]:
        path = finished_sweep.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as connection:
            return connection.execute("SELECT * FROM runs ORDER BY run_uuid").fetchall()

    before = runs()
    code = textwrap.dedent(f"""
        import sys
        from sweepnet.plan import SweepPlan
        from sweepnet.cli import main

        def no_data(self):
            raise AssertionError("resume loaded the data set")

        SweepPlan.load_dataset = no_data
        status = main(["resume", "finished", "--tracking-uri", {finished_sweep!r}])
        print("exit", status, "mlflow imported:", "mlflow" in sys.modules)
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert done.returncode == 0, done.stderr
    assert "3 trials (3 completed)" in done.stdout and "best: trial 2" in done.stdout
    assert "exit 0 mlflow imported: False" in done.stdout
    assert runs() == before  # the record was complete: nothing to write


def test_nothing_left_after_a_driver_died_while_recording_completes_the_record(finished_sweep, capsys):
    from mlflow.tracking import MlflowClient

    parent = read_sweep("finished", finished_sweep)
    MlflowClient(finished_sweep).update_run(parent.run_id, status="RUNNING")  # it died before the summary
    assert main(["resume", "finished", "--tracking-uri", finished_sweep]) == 0
    assert "3 trials (3 completed)" in capsys.readouterr().out
    after = read_sweep("finished", finished_sweep)
    assert after.status == "FINISHED" and after.is_complete() and after.run_id == parent.run_id
