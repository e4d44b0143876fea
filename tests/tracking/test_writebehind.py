"""The write-behind queue: a writer behind the trials is not an outage, outages are retried,
a store down for good or a Ctrl-C during the final flush saves the rest to a file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracking import MlflowClient

from sweepnet.records import TrialState
from sweepnet.search.space import MAX_OPTIONS
from sweepnet.tracking import FINAL_PREFIX, TrackingError
from sweepnet.tracking.backend import Backend, RunWrite
from sweepnet.tracking.writebehind import WriteBehind

from .sweeps import PER_EPOCH, history_of, make_sweep, record_trial, runs_of, search


class FakeBackend(Backend):
    """Records what reaches it; ``delay`` seconds per call, ``failing`` raises like a refused connection."""

    def __init__(self, *, delay: float = 0.0, threads: int = 1) -> None:
        super().__init__(None, "0", {})
        self.delay, self.threads = delay, threads
        self.failing = threading.Event()
        self.written: list[str] = []
        self.reject = set()

    def write(self, records, progressed=lambda: None):
        if self.failing.is_set():
            raise MlflowException("API request to the store failed with exception ConnectionError: refused")
        if any(record.key in self.reject for record in records):
            raise MlflowException("bad value", error_code=INVALID_PARAMETER_VALUE)
        for record in records:  # as the API backend: one run after another
            time.sleep(self.delay)
            self.written.append(record.key)
            record.create, record.params, record.tags, record.metrics, record.status = None, {}, {}, [], None
            progressed()


def _ended(key: str) -> RunWrite:
    return RunWrite(key, create={"mlflow.runName": key}, metrics=[("loss", 1.0, 0, 1)], status="FINISHED")


def test_a_writer_behind_but_writing_is_never_an_outage():
    backend = FakeBackend(delay=0.1)  # 10 runs/s
    queue = WriteBehind(backend, name="slow")
    seen = []
    for number in range(40):
        queue.push(_ended(f"t{number}"))
        time.sleep(0.01)  # trials end ten times faster than the store takes them
    start = time.monotonic()
    assert queue.drain(0.5, waiting=seen.append) is None  # the drain outlasts the timeout, with progress
    assert time.monotonic() - start > 1.0 and seen and max(seen) <= 40
    assert sorted(backend.written) == sorted(f"t{number}" for number in range(40)) and queue.unwritten() == []


def test_a_store_that_makes_no_progress_stops_the_drain_after_the_timeout():
    backend = FakeBackend()
    backend.failing.set()
    queue = WriteBehind(backend, name="down")
    queue.push(_ended("a"))
    start = time.monotonic()
    reason = queue.drain(1.0)
    assert reason.startswith("no progress for 1 s (MlflowException: API request") and time.monotonic() - start < 5
    assert [record.key for record in queue.unwritten()] == ["a"]


def test_an_interrupted_drain_stops_after_the_writes_in_flight_and_keeps_the_rest():
    backend = FakeBackend(delay=0.1, threads=2)  # two writers taking 8 runs at a time
    queue = WriteBehind(backend, name="interrupted")
    for number in range(30):
        queue.push(_ended(f"t{number}"))
    interrupted = threading.Event()
    threading.Timer(0.3, interrupted.set).start()
    start = time.monotonic()
    assert queue.drain(60, interrupted=interrupted) == "interrupted"
    assert time.monotonic() - start < 2
    assert len(backend.written) + len(queue.unwritten()) == 30 and len(queue.unwritten()) >= 14


def test_a_rejected_record_is_set_aside_alone():
    backend = FakeBackend()
    backend.reject.add("bad")
    queue = WriteBehind(backend, name="rejects")
    for key in ("a", "bad", "b"):
        queue.push(_ended(key))
    assert queue.drain(5) is None
    assert sorted(backend.written) == ["a", "b"] and [record.key for record, _ in queue.rejected] == ["bad"]


def test_http_stores_get_several_writers_that_never_share_a_run():
    backend = FakeBackend(delay=0.05, threads=4)
    queue = WriteBehind(backend, name="parallel")
    for number in range(40):
        queue.push(_ended(f"t{number}"))
        queue.push(RunWrite(f"t{number}", tags={"later": "1"}))
    assert queue.drain(10) is None
    for number in range(40):  # each run's records in order: created before its later record
        assert backend.written.index(f"t{number}") < len(backend.written) - backend.written[::-1].index(f"t{number}")
    assert len(backend.written) == 80


# --------------------------------------------------------------------------- outages, through the hooks


def _flaky(monkeypatch, failing: threading.Event) -> list[str]:
    """Make every store write fail like a refused connection while ``failing`` is set."""
    from sweepnet.tracking import backend

    failures = []
    for owner, name in ((backend.SqlBackend, "_insert"), (MlflowClient, "log_artifact"), (MlflowClient, "log_batch")):
        real = getattr(owner, name)

        def flaky(self, *args, _real=real, _name=name, **kwargs):
            if failing.is_set():
                failures.append(_name)
                raise MlflowException("API request to the store failed with exception ConnectionError: refused")
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(owner, name, flaky)
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
    for run in children.values():
        assert [step for step, _ in history_of(store, run, "val_acc")] == [1, 2, 3]
        assert run.data.tags["sweepnet.state"] == "COMPLETED" and FINAL_PREFIX + "test_acc" in run.data.metrics


def test_a_store_down_for_good_fails_loudly_and_saves_everything_to_a_file(store, hook, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    failing = threading.Event()
    failing.set()
    _flaky(monkeypatch, failing)
    sweep = make_sweep("down-for-good", store, flush_timeout=1.0)
    hook.sweepnet_sweep_start(sweep=sweep)
    entries = [record_trial(hook, sweep, 0, score=0.7), record_trial(hook, sweep, 1, state=TrialState.FAILED, epochs=1)]
    with pytest.raises(TrackingError) as raised:
        hook.sweepnet_sweep_end(sweep=sweep, results=[result for _, result in entries])

    message = str(raised.value)
    assert "\n" not in message and f"tracking store {store} made no progress for 1 s" in message
    assert "ConnectionError" in message and f"sweepnet resume down-for-good --tracking-uri {store}" in message
    [saved] = (Path(store.removeprefix("sqlite:///")).parent / "unwritten").glob("unwritten-down-for-good-*.json")
    assert str(saved) in message and saved.stat().st_size > 0
    payload = json.loads(saved.read_text())
    assert payload["tracking_uri"] == store and payload["experiment"] == "down-for-good"
    records = payload["unwritten"]
    parent = [record for record in records if record["run"] == "sweep"]
    assert parent[0]["artifacts"]["sweep.yaml"]["base64"]
    assert {"leaderboard.csv", "best_model.npz", "best.json", "plots/first_layer_weights.png"} <= set(
        parent[-1]["artifacts"]
    )
    assert parent[-1]["status"] == "FINISHED"
    for spec, result in entries:
        mine = [record for record in records if record["run"] == spec.trial_id]
        assert json.loads(mine[0]["create_tags"]["sweepnet.params"]) == spec.params
        points = {(m["key"], m["step"]): m["value"] for record in mine for m in record["metrics"]}
        for row in result.history:
            assert all(points[(key, row["epoch"])] == pytest.approx(row[key]) for key in PER_EPOCH)
        assert all(points[(FINAL_PREFIX + key, 0)] == pytest.approx(value) for key, value in result.metrics.items())
        [ended] = [record for record in mine if record["status"]]
        assert ended["tags"]["sweepnet.state"] == result.state.value
        assert ended["status"] == ("FINISHED" if result.state is TrialState.COMPLETED else "FAILED")
    saved.unlink()


# --------------------------------------------------------------------------- a slow store through the CLI

SLOW_STORE = """
import os, time
from sweepnet.tracking import backend

backend._RUNS_PER_TRANSACTION = 10  # progress shows after every 10 runs
_insert = backend.SqlBackend._insert


def slow_insert(self, records):
    time.sleep(float(os.environ["SWEEPNET_TEST_SLOW_STORE"]) * len(records))
    return _insert(self, records)


backend.SqlBackend._insert = slow_insert
"""


def trivial_sweep(path: Path, name: str, trials: int, flush_timeout: float = 1.0) -> Path:
    """A grid of ``trials`` softmax trials of one step on 50 samples (the store's stall timeout: 1 s):
    regularisation x learning rate, 50 rates once it has more trials than a grid takes options."""
    rates = 50 if trials > MAX_OPTIONS else 1
    assert trials % rates == 0
    regs = [round(1e-4 * (index + 1), 6) for index in range(trials // rates)]
    learning_rates = [round(1e-3 * (index + 1), 6) for index in range(rates)]
    path.write_text(
        textwrap.dedent(f"""\
        name: {name}
        data: {{name: digits, flatten: true, num_train: 50}}
        model: {{name: softmax, reg: {{grid: {regs}}}, learning_rate: {{grid: {learning_rates}}}, num_iters: 1,
                 batch_size: 50}}
        search: {{searcher: grid}}
        tracking: {{flush_timeout: {flush_timeout}}}
        """)
    )
    return path


def slow_store_env(tmp_path: Path, seconds_per_run: float) -> dict[str, str]:
    """Environment of a ``sweepnet`` process whose store takes ``seconds_per_run`` per run written."""
    site = tmp_path / "slow-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SLOW_STORE)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "SWEEPNET_TEST_SLOW_STORE": str(seconds_per_run),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "COLUMNS": "200",
    }


@pytest.mark.slow
def test_a_store_slower_than_the_trials_gets_every_run_and_the_sweep_exits_0(tmp_path):
    config = trivial_sweep(tmp_path / "slow.yaml", "slow-store", 120)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = slow_store_env(tmp_path, 0.05)  # 20 runs/s, far behind the trials; 0.5 s a transaction
    done = subprocess.run(
        [sys.executable, "-m", "sweepnet", "sweep", str(config), "--tracking-uri", uri, "--max-concurrent", "2"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "recording" in done.stdout and "trials..." in done.stdout  # the drain showed on the display
    [parent], children = runs_of(uri, "slow-store")
    assert len(children) == 120 and {run.info.status for run in children.values()} == {"FINISHED"}
    assert parent.info.status == "FINISHED"


@pytest.mark.slow
def test_ctrl_c_while_recording_saves_the_rest_and_resume_writes_it(tmp_path):
    config = trivial_sweep(tmp_path / "stopped.yaml", "stopped", 60, flush_timeout=60)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = slow_store_env(tmp_path, 2.0)  # far behind the trials, even on a loaded machine
    process = subprocess.Popen(
        [sys.executable, "-m", "sweepnet", "sweep", str(config), "--tracking-uri", uri, "--max-concurrent", "2"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines = []
    for line in process.stdout:
        lines.append(line)
        if re.match(r"recording [1-9]", line):  # the drain has started, with trials left to write
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    message = err.strip().splitlines()[-1]
    assert "interrupted while recording" in message and "saved in" in message
    command = message.split("write them to the store with: ")[1]
    assert command == f"sweepnet resume stopped --tracking-uri {uri}"
    saved = Path(message.split("saved in ")[1].split(";")[0])
    assert saved.is_file() and saved.stat().st_size > 0

    env["SWEEPNET_TEST_SLOW_STORE"] = "0"
    start = time.monotonic()
    resumed = subprocess.run(
        [sys.executable, "-m", *command.split()], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not saved.exists()
    [parent], children = runs_of(uri, "stopped")
    assert len(children) == 60 and {run.info.status for run in children.values()} == {"FINISHED"}
    assert parent.info.status == "FINISHED" and parent.data.tags["sweepnet.trials"] == "60"
    kept = [run for run in children.values() if "sweepnet.model" in run.data.tags]
    assert kept and all(
        "model.npz" in {info.path for info in MlflowClient(uri).list_artifacts(run.info.run_id)} for run in kept
    )
    assert len(search(uri, "stopped")) == 61
    assert time.monotonic() - start < 60
