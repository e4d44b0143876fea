"""Against real tracking servers: ``mlflow server`` on SQLite killed and restarted, and on
PostgreSQL at cluster scale (3,000 trials through the CLI)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from mlflow.exceptions import MlflowException

from sweepnet import leaderboard
from sweepnet.config import plan_from_text
from sweepnet.records import TrialState
from sweepnet.tracking import TrackingError
from sweepnet.trial import run_trial

from .servers import MlflowServer, postgres_database
from .sweeps import PER_EPOCH, artifact, artifacts_of, history_of, load_npz, make_sweep, record_trial, runs_of
from .test_writebehind import trivial_sweep

pytestmark = pytest.mark.slow


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


def test_against_a_server_down_for_good_the_file_holds_the_rest(server, hook, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    sweep = make_sweep("server-gone", server.uri, flush_timeout=2.0)
    hook.sweepnet_sweep_start(sweep=sweep)
    written = record_trial(hook, sweep, 0, score=0.6)
    _wait_for_children(server.uri, "server-gone", 1)
    server.kill()
    lost = [record_trial(hook, sweep, 1, score=0.8), record_trial(hook, sweep, 2, score=0.7)]
    with pytest.raises(TrackingError, match=f"tracking store {server.uri} made no progress for 2 s") as raised:
        hook.sweepnet_sweep_end(sweep=sweep, results=[written[1], *(result for _, result in lost)])

    [saved] = (tmp_path / "sweepnet-results" / "unwritten").glob("unwritten-server-gone-*.json")
    assert str(saved) in str(raised.value)
    payload = json.loads(saved.read_text())
    records = payload["unwritten"]
    assert {record["run"] for record in records} == {"sweep", written[0].trial_id, *(spec.trial_id for spec, _ in lost)}
    assert [set(record["artifacts"]) for record in records if record["run"] == written[0].trial_id] == [{"curves.png"}]
    for spec, _ in lost:
        mine = [record for record in records if record["run"] == spec.trial_id]
        steps = sorted({m["step"] for record in mine for m in record["metrics"] if m["key"] == "val_acc"})
        [ended] = [record for record in mine if record["status"]]
        assert steps == [1, 2, 3] and "model.npz" in ended["artifacts"]
        assert ended["tags"]["sweepnet.state"] == "COMPLETED"
    [summary] = [record for record in records if record["run"] == "sweep" and record["status"]]
    best = load_npz(base64.b64decode(summary["artifacts"]["best_model.npz"]["base64"]))
    np.testing.assert_array_equal(best["W1"], lost[0][1].weights["W1"])
    assert payload["runs"]["sweep"] and payload["runs"][written[0].trial_id]  # already written: ids recorded


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


def test_real_digits_trials_against_a_server(server, hook, tmp_path):
    plan = plan_from_text(DIGITS_FC, [f"tracking.uri={server.uri}"], source="digits.yaml")
    dataset = plan.load_dataset()
    bound = plan.bind(dataset.meta)
    sweep = bound.sweep
    hook.sweepnet_sweep_start(sweep=sweep)
    searcher, entries = bound.make_searcher(), []
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

    [parent], children = runs_of(server.uri, "digits-fc")
    assert len(children) == 2 and all(run.info.status == "FINISHED" for run in children.values())
    for spec, result in entries:
        for key in ("loss", "train_acc", "val_acc", "lr"):
            expected = [(row["epoch"], pytest.approx(row[key])) for row in result.history]
            assert history_of(server.uri, children[spec.number], key) == expected
    best_spec, best_result = max(entries, key=lambda entry: entry[1].metrics["val_acc"])
    best = load_npz(artifact(server.uri, parent, "best_model.npz", tmp_path))
    assert all(np.array_equal(best[name], best_result.weights[name]) for name in best_result.weights)
    assert {"plots/val_acc_vs_params.png", "plots/first_layer_weights.png"} <= artifacts_of(server.uri, parent, "plots")


def test_3000_trials_through_the_cli_to_a_postgresql_backed_server(tmp_path):
    """Cluster scale: 3,000 trivial trials recorded to ``mlflow server`` on PostgreSQL by the
    parallel writers; nothing lost, exit 0, every run FINISHED."""
    with postgres_database() as database:
        server = MlflowServer(tmp_path, backend=database, workers=2)
        server.start()
        try:
            config = trivial_sweep(tmp_path / "scale.yaml", "scale", 3000, flush_timeout=60)
            done = subprocess.run(
                [sys.executable, "-m", "sweepnet", "sweep", str(config), "--tracking-uri", server.uri],
                cwd=tmp_path, capture_output=True, text=True, timeout=1800,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
            assert "3000 trials (3000 completed)" in done.stdout
            [parent], children = runs_of(server.uri, "scale")
            assert len(children) == 3000 and {run.info.status for run in children.values()} == {"FINISHED"}
            assert parent.info.status == "FINISHED" and parent.data.tags["sweepnet.trials"] == "3000"
        finally:
            server.kill()
