"""``sweepnet sweep`` and ``sweepnet resume``.

In-process tests replace :func:`sweepnet.scheduler.run_sweep` by a recorded outcome to check the
command line, the output and the exit status quickly. The slow ones run the real command in a
subprocess on local Ray with the MLflow tracker: a plugin that raises, Ctrl-C, and a driver
SIGKILLed mid-sweep then resumed.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from sweepnet.cli import main
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState
from sweepnet.rules import SweepOutcome
from sweepnet.tracking import read_sweep

SWEEP = """\
name: {name}
seed: 0
data: {{name: digits, flatten: true, standardize: true}}
model:
  name: sequential
  layers:
    - {{name: affine, units: {{grid: {units}}}}}
    - {{name: boom, explode_on_width: {explode}}}
    - relu
    - {{name: affine, units: 10}}
solver:
  update_rule: adam
  optim_config: {{learning_rate: 1.0e-2}}
  batch_size: 64
  num_epochs: {epochs}
search: {{searcher: grid}}
"""

# A layer that raises in its forward pass at one width, and a recorder of the lifecycle hooks:
# installed as an entry-point plugin so that the driver and the Ray workers both load it.
PLUGIN = '''
import json
import os

from pydantic import BaseModel, ConfigDict

from sweepnet import hookimpl
from sweepnet.layer import Layer


class Boom(Layer):
    """Identity that raises on inputs of width ``explode_on_width``."""

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        explode_on_width: int = 0

    def forward(self, x, params, mode):
        if x.shape[1] == self.options.explode_on_width:
            raise RuntimeError(f"boom at width {x.shape[1]}")
        return x, None

    def backward(self, dout, cache):
        return dout, {}


@hookimpl
def sweepnet_register_layers(registry):
    registry.add("boom", Boom)


def _log(**event):
    with open(os.environ["SWEEPNET_TEST_EVENTS"], "a") as events:
        events.write(json.dumps(event) + "\\n")


@hookimpl
def sweepnet_trial_start(trial):
    _log(event="trial_start", trial=trial.trial_id, number=trial.number)


@hookimpl
def sweepnet_trial_end(trial, result):
    _log(event="trial_end", trial=trial.trial_id, number=trial.number, state=result.state.value)


@hookimpl
def sweepnet_sweep_end(results):
    _log(event="sweep_end", trials=len(results))
'''


# --------------------------------------------------------------------------- in-process


def _outcome(interrupted=False, hook_errors=()):
    sweep = SweepInfo("toy", {}, "", "val_acc", "max")
    specs = [TrialSpec(f"{n}" * 40, n, {"model.reg": 0.1 * n}, {}, seed=n) for n in range(3)]
    results = [
        TrialResult(specs[0].trial_id, TrialState.COMPLETED, metrics={"val_acc": 0.9, "test_acc": 0.85}),
        TrialResult(specs[1].trial_id, TrialState.FAILED, error="Traceback (most recent call last):\nValueError: bad"),
        TrialResult(specs[2].trial_id, TrialState.PRUNED, metrics={"val_acc": 0.4}),
    ]
    return SweepOutcome(sweep, list(zip(specs, results, strict=True)), interrupted, list(hook_errors))


@pytest.fixture
def fake_run(monkeypatch, tmp_path):
    """Replace run_sweep; returns the list of (plan, keyword arguments) it was called with."""
    calls = []

    def run(outcome=None):
        def run_sweep(plan, **kwargs):
            calls.append((plan, kwargs))
            return outcome or _outcome()

        monkeypatch.setattr("sweepnet.scheduler.run_sweep", run_sweep)
        return calls

    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sweep.yaml").write_text(SWEEP.format(name="toy", units=[8, 16], explode=0, epochs=1))
    return run


def test_prints_the_leaderboard_failures_best_trial_and_where_to_browse(fake_run, capsys):
    calls = fake_run()
    status = main(["sweep", "sweep.yaml", "--set", "solver.num_epochs=2", "--max-concurrent", "1"])
    out = capsys.readouterr().out
    assert status == 0
    plan, kwargs = calls[0]
    assert plan.config["solver"]["num_epochs"] == 2
    assert kwargs["max_concurrent"] == 1 and kwargs["resume"] is False and kwargs["address"] is None
    assert "COMPLETED" in out and "PRUNED" in out
    assert "FAILED trial 1 (11111111): ValueError: bad" in out
    assert "best: trial 0 (00000000): val_acc 0.9, test_acc 0.85" in out
    assert "3 trials (1 completed, 1 failed, 1 pruned). Browse them: sweepnet ui" in out


def test_ctrl_c_prints_the_command_that_resumes_and_exits_130(fake_run, capsys):
    fake_run(_outcome(interrupted=True))
    args = ["sweep", "sweep.yaml", "--set", "model.reg=0.5", "--address", "10.0.0.1:6379", "--tracking-uri", "x.db"]
    assert main(args) == 130
    out = capsys.readouterr().out
    command = "sweepnet sweep sweep.yaml --set model.reg=0.5 --address 10.0.0.1:6379 --tracking-uri x.db --resume"
    assert command in out


def test_tracking_uri_becomes_the_sweeps_tracking_uri(fake_run):
    calls = fake_run()
    main(["sweep", "sweep.yaml", "--tracking-uri", "sqlite:///elsewhere.db", "--resume"])
    plan, kwargs = calls[0]
    assert plan.tracking_uri == "sqlite:///elsewhere.db" and kwargs["resume"] is True


def test_a_failing_hook_is_reported_with_status_2(fake_run, capsys):
    fake_run(_outcome(hook_errors=["sweepnet_sweep_end: tracking store x unreachable"]))
    assert main(["sweep", "sweep.yaml"]) == 2
    assert "sweepnet: error: plugin hook sweepnet_sweep_end: tracking store x unreachable" in capsys.readouterr().err


def test_bad_input_is_a_one_line_error_with_status_2(fake_run, capsys):
    calls = fake_run()
    assert main(["sweep", "missing.yaml"]) == 2
    assert main(["sweep", "sweep.yaml", "--set", "solver.batch_size=0"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and "missing.yaml" in errors[0] and "solver.batch_size" in errors[1]
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "sweep.yaml", "--max-concurrent", "0"])
    assert exit_.value.code == 2 and not calls


def test_resume_reloads_the_recorded_file_and_overrides(fake_run, monkeypatch):
    calls = fake_run()
    text = SWEEP.format(name="toy", units=[8, 16], explode=0, epochs=1)
    monkeypatch.setattr("sweepnet.tracking.recorded_sweep", lambda name, uri: (text, ["solver.num_epochs=4"]))
    assert main(["resume", "toy", "--max-concurrent", "2"]) == 0
    plan, kwargs = calls[0]
    assert plan.config["solver"]["num_epochs"] == 4 and kwargs["resume"] is True and kwargs["max_concurrent"] == 2


# --------------------------------------------------------------------------- real runs


@pytest.fixture
def plugin_env(tmp_path):
    """Environment of a ``sweepnet`` subprocess that loads the test plugin and logs its events."""
    site = tmp_path / "site"
    info = site / "sweepnet_test_events-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "sweepnet_test_events.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sweepnet-test-events\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sweepnet]\nevents = sweepnet_test_events\n")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "SWEEPNET_DISABLE_PLUGIN_AUTOLOAD": "0",
        "SWEEPNET_TEST_EVENTS": str(tmp_path / "events.jsonl"),
        "COLUMNS": "200",
    }


def _write_sweep(tmp_path: Path, name: str, *, units, epochs: int, explode: int = 0) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(SWEEP.format(name=name, units=list(units), explode=explode, epochs=epochs)))
    return path


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sweepnet", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen, timeout: float = 180) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, out, err


def _events(env: dict[str, str]) -> list[dict]:
    path = Path(env["SWEEPNET_TEST_EVENTS"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, _finish(process)
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _leaderboard(output: str) -> list[tuple[str, ...]]:
    """The leaderboard's body rows without the ``seconds`` column (wall time differs between runs)."""
    rows = [line for line in output.splitlines() if line.startswith("│")]
    cells = [tuple(cell.strip() for cell in row.strip("│").split("│")) for row in rows]
    return [row[:7] + row[8:] for row in cells]


@pytest.mark.slow
def test_a_plugin_that_raises_fails_one_trial_and_the_rest_complete(plugin_env, tmp_path):
    config = _write_sweep(tmp_path, "boom", units=[8, 16, 32], epochs=2, explode=16)
    command = ["sweep", str(config), "--tracking-uri", "sqlite:///mlflow.db"]
    status, out, err = _finish(_start(command, plugin_env, tmp_path))
    assert status == 0, err
    assert "Traceback" not in out + err
    states = sorted(row[3] for row in _leaderboard(out))
    assert states == ["COMPLETED", "COMPLETED", "FAILED"]
    assert "RuntimeError: boom at width 16" in out
    assert [event for event in _events(plugin_env) if event["event"] == "sweep_end"] == [
        {"event": "sweep_end", "trials": 3}
    ]


@pytest.mark.slow
def test_ctrl_c_kills_running_trials_and_the_printed_command_resumes(plugin_env, tmp_path):
    config = _write_sweep(tmp_path, "interrupt", units=[8, 12, 16, 20], epochs=800)
    process = _start(["sweep", str(config), "--tracking-uri", "sqlite:///mlflow.db"], plugin_env, tmp_path)
    _wait(lambda: sum(event["event"] == "trial_start" for event in _events(plugin_env)) >= 2, process)
    time.sleep(1.0)  # well inside the first two trials
    process.send_signal(signal.SIGINT)
    status, out, err = _finish(process, timeout=60)
    assert status == 130, err
    before = _events(plugin_env)
    killed = {event["trial"] for event in before if event.get("state") == "KILLED"}
    finished = {event["trial"] for event in before if event.get("state") == "COMPLETED"}
    assert len(killed) == 2 and before[-1] == {"event": "sweep_end", "trials": len(killed | finished)}
    command = out.split("Resume with:")[1].strip().splitlines()[0]
    assert command == f"sweepnet sweep {config} --tracking-uri sqlite:///mlflow.db --resume"
    resume = _start(shlex.split(command)[1:], plugin_env, tmp_path)
    status, out, err = _finish(resume)
    assert status == 0, err
    rerun = {event["trial"] for event in _events(plugin_env)[len(before) :] if event["event"] == "trial_start"}
    assert killed <= rerun and not rerun & finished


@pytest.mark.slow
def test_a_sigkilled_driver_resumes_without_rerunning_finished_trials(plugin_env, tmp_path):
    units = [4, 8, 12, 16, 20, 24]
    config = _write_sweep(tmp_path, "crash", units=units, epochs=60)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    process = _start(["sweep", str(config), "--tracking-uri", uri, "--max-concurrent", "2"], plugin_env, tmp_path)
    _wait(lambda: _finished_in_store("crash", uri) >= 2, process)
    descendants = psutil.Process(process.pid).children(recursive=True)
    process.kill()  # SIGKILL: no hook runs, nothing is flushed
    process.wait()
    _, alive = psutil.wait_procs(descendants, timeout=30)
    lingering = {leftover.name() for leftover in alive}
    for leftover in alive:  # Ray's dashboard and runtime-env agents notice their raylet's death after a minute
        leftover.kill()
    assert lingering <= {"ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::RuntimeEnv"}, lingering
    finished = {spec.trial_id for spec, result in read_sweep("crash", uri).entries if result.state.is_finished}
    assert 2 <= len(finished) < len(units)
    before = len(_events(plugin_env))

    status, resumed, err = _finish(_start(["resume", "crash", "--tracking-uri", uri], plugin_env, tmp_path))
    assert status == 0, err
    rerun = {event["trial"] for event in _events(plugin_env)[before:] if event["event"] == "trial_start"}
    assert rerun and not rerun & finished

    reference = _write_sweep(tmp_path, "reference", units=units, epochs=60)
    status, uninterrupted, err = _finish(_start(["sweep", str(reference), "--tracking-uri", uri], plugin_env, tmp_path))
    assert status == 0, err
    assert _leaderboard(resumed) == _leaderboard(uninterrupted)
    assert len(_leaderboard(resumed)) == len(units)


def _finished_in_store(name: str, uri: str) -> int:
    try:
        return sum(result.state.is_finished for _, result in read_sweep(name, uri).entries)
    except Exception:  # the store or the sweep does not exist yet
        return 0
