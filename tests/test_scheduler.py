"""The Ray driver loop on a local Ray instance: worker reuse, streaming, pruning, failures, Ctrl-C, resume.

Trials here are small module-level functions (``trial_fn``) so that each test is about the
scheduler; ``tests/commands/test_sweep.py`` runs real trials end to end.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import threading
import time
import weakref
from collections import Counter
from pathlib import Path

import pytest
import ray

from sweepnet import hookimpl
from sweepnet.config import SweepPlan, plan_from_text
from sweepnet.errors import ConfigError, SweepnetError
from sweepnet.pluginmanager import PluginManager
from sweepnet.records import TrialResult, TrialState
from sweepnet.scheduler import run_sweep
from sweepnet.search import ASHAPruner

from .recorder import Recorder


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance (2 CPUs) shared by the module; run_sweep uses the running one."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


SWEEP = """\
name: toy
metric: val_acc
data: {{name: digits, flatten: true}}
model: {{name: fc, hidden_dims: [8], reg: {{grid: {xs}}}}}
solver: {{num_epochs: {epochs}}}
search: {{searcher: grid}}
"""


def _plan(xs, epochs, *overrides):
    """A real plan over ``model.reg`` (read as ``x`` by the trial functions below)."""
    return plan_from_text(SWEEP.format(xs=list(xs), epochs=epochs), overrides, "toy")


def _hook(recorder):
    manager = PluginManager()
    manager.register(recorder)
    return manager.hook


# ------------------------------------------------------------------- trial functions (run in the workers)


def _x(spec):
    return spec.params["model.reg"]


def epochs_trial(spec, report, *, dataset, registries, sleep=0.0, scratch=None):
    """``solver.num_epochs`` epochs whose val_acc is ``x * epoch / 100``; records what it saw."""
    started = time.monotonic()
    history = []
    if scratch is not None:
        Path(scratch, f"{spec.number}.pid").write_text(str(os.getpid()))
    for epoch in range(1, spec.config["solver"]["num_epochs"] + 1):
        time.sleep(sleep)
        metrics = {"loss": 1.0 / epoch, "val_acc": _x(spec) * epoch / 100}
        history.append({"epoch": float(epoch), **metrics})
        if report(epoch, metrics):
            state = TrialState.PRUNED
            break
    else:
        state = TrialState.COMPLETED
    facts = {
        "read_only": float(not dataset.X_train.flags.writeable),
        "view": float(dataset.X_train.base is not None),
        "registries": float(len(registries.layers) > 0),
    }
    metrics = {"val_acc": max(row["val_acc"] for row in history), **facts}
    return TrialResult(spec.trial_id, state, metrics=metrics, history=history, duration_s=time.monotonic() - started)


def raising_trial(spec, report, *, dataset, registries):
    """Fails like broken plugin code would, for x == 2 only."""
    if _x(spec) == 2:
        raise ZeroDivisionError("a plugin divided by zero")
    return epochs_trial(spec, report, dataset=dataset, registries=registries)


def dying_trial(spec, report, *, dataset, registries):
    """The worker process dies (segfault, OOM kill) whenever it runs x == 1."""
    if _x(spec) == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return epochs_trial(spec, report, dataset=dataset, registries=registries)


def _unimportable():
    raise ImportError("the worker cannot import the trial function")


class UnimportableTrial:
    """A trial function that the workers cannot unpickle, so none of them starts."""

    def __reduce__(self):
        return _unimportable, ()

    def __call__(self, spec, report, *, dataset, registries):
        raise AssertionError("never runs")


# ------------------------------------------------------------------- tests


def test_every_trial_runs_in_long_lived_workers_on_the_shared_data_set():
    recorder = Recorder()
    outcome = run_sweep(_plan(range(8), 2), trial_fn=epochs_trial, hook=_hook(recorder))
    assert sorted(_x(spec) for spec, _ in outcome.entries) == list(range(8))
    results = [result for _, result in outcome.entries]
    assert {result.state for result in results} == {TrialState.COMPLETED}
    assert len({result.worker for result in results}) <= 2  # two slots, each one process for every trial
    assert all(result.node and result.worker.startswith("pid ") for result in results)
    for name in ("read_only", "view", "registries"):  # zero-copy read-only views; registries built once
        assert {result.metrics[name] for result in results} == {1.0}
    assert recorder.calls[:2] == [("sweep_prepare", False, "sweepnet-prepare"), ("sweep_start", False)]
    assert recorder.calls[-1] == ("sweep_end", 8)
    assert sum(call[0] == "trial_report" for call in recorder.calls) == 16
    assert _x(outcome.best[0]) == 7 and outcome.best[1].weights is None  # this trial function keeps none


def test_the_driver_keeps_only_the_object_stores_copy_of_the_data_set(monkeypatch):
    """After ray.put the driver lets go of its own copy: by sweep_start no array of it is alive."""
    plan = _plan(range(2), 1)
    loaded = []
    load = SweepPlan.load_dataset

    def load_and_watch(self):
        dataset = load(self)
        for array in (dataset.X_train, dataset.y_train, dataset.X_test):
            loaded.append(weakref.ref(array if array.base is None else array.base))
        return dataset

    monkeypatch.setattr(SweepPlan, "load_dataset", load_and_watch)  # a plan is immutable
    alive_at_start = []

    class Watch(Recorder):
        @hookimpl
        def sweepnet_sweep_start(self, sweep):
            gc.collect()
            alive_at_start.extend(ref() is not None for ref in loaded)
            assert sweep.data_meta is not None and sweep.data_meta.name == "digits"

    outcome = run_sweep(plan, trial_fn=epochs_trial, hook=_hook(Watch()))
    assert len(outcome.entries) == 2 and loaded and alive_at_start == [False] * len(loaded)


def test_a_pruned_trial_stops_at_the_epoch_it_was_judged_on():
    plan = _plan(range(12), 9, "pruner={name: asha}")
    recorder = Recorder()
    outcome = run_sweep(plan, trial_fn=epochs_trial, hook=_hook(recorder))
    pruned = outcome.in_state(TrialState.PRUNED)
    assert pruned and outcome.in_state(TrialState.COMPLETED)
    rungs = plan_rungs = ASHAPruner(metric="val_acc", mode="max", max_epochs=9).rungs.milestones
    for spec, result in pruned:
        assert len(result.history) in rungs  # not one epoch more
        reported = [call[2] for call in recorder.calls if call[:2] == ("trial_report", spec.number)]
        assert reported == list(range(1, len(result.history) + 1))
    assert plan_rungs == [1, 3]


def test_an_exception_in_trial_code_fails_only_that_trial():
    outcome = run_sweep(_plan([1, 2, 3], 1), trial_fn=raising_trial, hook=_hook(Recorder()))
    states = {_x(spec): result for spec, result in outcome.entries}
    assert states[2].state is TrialState.FAILED
    assert "ZeroDivisionError: a plugin divided by zero" in states[2].error
    assert states[1].state is states[3].state is TrialState.COMPLETED


def test_a_trial_above_the_memory_budget_fails_alone_and_the_others_run():
    text = """\
name: toy
metric: val_acc
data: {name: digits, flatten: true}
model: {name: fc, hidden_dims: {grid: [[8], [600, 600]]}}
solver: {num_epochs: 1, dtype: {grid: [float32, float64]}}
search: {searcher: grid}
resources: {max_model_mb: 2}
"""
    outcome = run_sweep(plan_from_text(text, [], "toy"), hook=_hook(Recorder()))  # 600 wide in float64: 3.2 MB
    states = {
        (len(spec.params["model.hidden_dims"]), spec.params["solver.dtype"]): result for spec, result in outcome.entries
    }
    failed = states.pop((2, "float64"))
    assert failed.state is TrialState.FAILED and failed.error.endswith("more than resources.max_model_mb (2 MB)")
    assert "\n" not in failed.error
    assert [result.state for result in states.values()] == [TrialState.COMPLETED] * 3


def test_a_worker_killed_mid_trial_is_replaced_and_the_trial_rerun(tmp_path):
    killed: list[int] = []

    def kill_worker(trial, epoch):
        """SIGKILL the worker process running trial 1, once, mid-trial (after its first epoch)."""
        if trial.number == 1 and not killed:
            pid = int((tmp_path / "1.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    recorder = Recorder(on_report=kill_worker)
    plan = _plan(range(4), 3, "search.options={shuffle: false}")
    trial_fn = functools.partial(epochs_trial, sleep=0.2, scratch=str(tmp_path))
    outcome = run_sweep(plan, trial_fn=trial_fn, hook=_hook(recorder))
    assert len(outcome.entries) == 4
    assert {result.state for _, result in outcome.entries} == {TrialState.COMPLETED}
    retried = outcome.entries[1][1]
    assert retried.retries == 1 and retried.worker != f"pid {killed[0]}"
    assert len(retried.history) == 3
    assert Counter(call[0] for call in recorder.calls)["trial_start"] == 4
    assert [call[2] for call in recorder.calls if call[:2] == ("trial_report", 1)] == [1, 2, 3]


def test_a_trial_that_keeps_killing_its_worker_fails_after_the_retries():
    plan = _plan(range(8), 1, "resources.max_retries=1")
    outcome = run_sweep(plan, trial_fn=dying_trial, hook=_hook(Recorder()))
    results = {_x(spec): result for spec, result in outcome.entries}
    assert results[1].state is TrialState.FAILED and results[1].retries == 1
    assert results[1].error.startswith("worker lost 2 times: ")
    others = [result for x, result in results.items() if x != 1]
    assert len(others) == 7 and {result.state for result in others} == {TrialState.COMPLETED}
    # At most the trial that ran just before the killer on its worker is re-run: its result may
    # have been lost with the process (SweepRules.worker_lost with a trial queued behind).
    assert sum(result.retries for result in others) <= 1


def test_a_trial_queued_behind_the_running_one_starts_when_it_ends_with_its_own_results():
    recorder = Recorder()
    trial_fn = functools.partial(epochs_trial, sleep=0.02)
    outcome = run_sweep(_plan(range(16), 2), trial_fn=trial_fn, hook=_hook(recorder))
    for spec, result in outcome.entries:
        assert [row["val_acc"] for row in result.history] == [_x(spec) / 100, _x(spec) * 2 / 100]
    running, most = 0, 0  # a queued trial starts when the one before it ends: never more than 2 at once
    for call in recorder.calls:
        running += {"trial_start": 1, "trial_end": -1}.get(call[0], 0)
        most = max(most, running)
    assert most <= 2
    for spec, _ in outcome.entries:
        calls = [call[0] for call in recorder.calls if call[0].startswith("trial") and call[1] == spec.number]
        assert calls == ["trial_start", "trial_report", "trial_report", "trial_end"]


def test_a_plugin_that_cannot_prepare_fails_the_sweep_before_it_starts():
    def unreachable():
        raise SweepnetError("the chat channel is unreachable")

    recorder = Recorder(on_prepare=unreachable)
    with pytest.raises(SweepnetError, match="the chat channel is unreachable"):
        run_sweep(_plan(range(2), 1), trial_fn=epochs_trial, hook=_hook(recorder))
    assert [call[0] for call in recorder.calls] == ["sweep_prepare"]


def test_a_sweep_whose_workers_cannot_start_fails_with_their_error_before_any_trial():
    recorder = Recorder()
    message = (
        "no Ray worker could start; the last error was SweepnetError: the trial worker cannot load the plugins "
        "or the trial function: ImportError: the worker cannot import the trial function"
    )
    with pytest.raises(SweepnetError, match=f"^{message}$"):
        run_sweep(_plan([0, 1], 1, "resources.max_retries=1"), trial_fn=UnimportableTrial(), hook=_hook(recorder))
    assert not [call for call in recorder.calls if call[0].startswith("trial")]


def test_ctrl_c_kills_the_running_trials_and_still_ends_the_sweep():
    running: set[int] = set()
    both_running = threading.Event()

    def note(trial, epoch):
        running.add(trial.number)
        if len(running) == 2:
            both_running.set()

    recorder = Recorder(on_report=note)
    interrupt = lambda: both_running.wait(30) and os.kill(os.getpid(), signal.SIGINT)  # noqa: E731
    threading.Thread(target=interrupt, daemon=True).start()
    plan = _plan(range(6), 50)
    began = time.monotonic()
    outcome = run_sweep(plan, trial_fn=functools.partial(epochs_trial, sleep=0.1), hook=_hook(recorder))
    assert outcome.interrupted and time.monotonic() - began < 20
    killed = outcome.in_state(TrialState.KILLED)
    assert len(killed) == 2 and all(result.history for _, result in killed)
    assert [call for call in recorder.calls if call[0] == "trial_end"] == [
        ("trial_end", spec.number, TrialState.KILLED) for spec, _ in killed
    ]
    assert recorder.calls[-1] == ("sweep_end", 2)


def test_resume_runs_only_the_trials_that_did_not_finish():
    plan = _plan(range(5), 1)
    first = run_sweep(plan, trial_fn=epochs_trial, hook=_hook(Recorder()))
    history = [entry for entry in first.entries if entry[0].number in (0, 3)]
    history.append((first.entries[1][0], TrialResult(first.entries[1][0].trial_id, TrialState.KILLED)))
    recorder = Recorder(history=history)
    outcome = run_sweep(plan, trial_fn=epochs_trial, hook=_hook(recorder), resume=True)
    started = sorted(call[1] for call in recorder.calls if call[0] == "trial_start")
    assert started == [1, 2, 4]
    assert recorder.calls[:2] == [("sweep_prepare", True, "sweepnet-prepare"), ("sweep_start", True)]
    assert [spec.number for spec, _ in outcome.entries] == [0, 1, 2, 3, 4]
    assert [result.metrics["val_acc"] for _, result in outcome.entries] == [
        result.metrics["val_acc"] for _, result in first.entries
    ]


def test_resume_needs_a_plugin_that_keeps_the_history():
    with pytest.raises(SweepnetError, match="cannot resume sweep 'toy'"):
        run_sweep(_plan([1], 1), trial_fn=epochs_trial, hook=_hook(Recorder()), resume=True)


def test_a_trial_bigger_than_every_node_is_a_config_error():
    with pytest.raises(ConfigError, match="resources"):
        run_sweep(_plan([1], 1, "resources.cpus_per_trial=3"), trial_fn=epochs_trial, hook=_hook(Recorder()))


def test_a_local_ray_instance_that_does_not_come_up_is_one_line(monkeypatch):
    """Ray raises a bare Exception when its node times out starting (a loaded machine)."""
    import contextlib

    from sweepnet import scheduler

    def timed_out(**kwargs):
        raise Exception("The current node timed out during startup. This could happen because\n  the raylet ...")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", timed_out)
    monkeypatch.setattr(scheduler, "_local_node", contextlib.nullcontext)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(
        SweepnetError, match=r"^could not start a local Ray instance: Exception: The current node timed out"
    ):
        scheduler._connect(None, dashboard=False)
    with pytest.raises(Exception, match="timed out") as raised:  # a cluster's own errors are not renamed
        scheduler._connect("127.0.0.1:6379", dashboard=False)
    assert not isinstance(raised.value, SweepnetError)
