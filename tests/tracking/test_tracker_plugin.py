"""The tracker plugin (sweepnet/plugins/tracker.py): one Tracker per plugin manager, one SweepTracker
per running sweep. Here, next to the helpers of the tracking tests."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings

import pytest
from mlflow.tracking import MlflowClient

from sweepnet import __version__
from sweepnet.lifecycle import LifecycleHooks
from sweepnet.pluginmanager import PluginWarning, create_plugin_manager
from sweepnet.plugins.tracker import SweepTracker, Tracker
from sweepnet.progress import PROGRESS_PLUGIN
from sweepnet.tracking import TrackingError

from .sweeps import make_sweep, record_trial, runs_of


@pytest.fixture
def manager():
    return create_plugin_manager(autoload=False)


def test_each_sweep_gets_its_own_tracker_registered_while_it_runs(manager, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    hook = manager.hook
    assert isinstance(manager.get_plugin("sweepnet.plugins.tracker"), Tracker)
    first, second = make_sweep("first", uri), make_sweep("second", uri)
    hook.sweepnet_sweep_start(sweep=first)
    hook.sweepnet_sweep_start(sweep=second)  # two sweeps at once in one process
    assert isinstance(manager.get_plugin("sweepnet.tracker:first"), SweepTracker)
    results = {
        sweep.name: [record_trial(hook, sweep, n, score=0.5 + n / 10)[1] for n in range(2)] for sweep in (first, second)
    }
    hook.sweepnet_sweep_end(sweep=first, results=results["first"])
    assert manager.get_plugin("sweepnet.tracker:first") is None and manager.get_plugin("sweepnet.tracker:second")
    hook.sweepnet_sweep_end(sweep=second, results=results["second"])
    for name in ("first", "second"):
        [parent], children = runs_of(uri, name)
        assert sorted(children) == [0, 1] and parent.info.status == "FINISHED"


def test_the_final_flush_shows_on_the_registered_progress_display(manager, tmp_path, monkeypatch):
    from sweepnet.tracking import backend

    real = backend.SqlBackend.write

    def slow(self, records, progressed=lambda: None):
        time.sleep(0.2 * len(records))
        return real(self, records, progressed)

    monkeypatch.setattr(backend.SqlBackend, "write", slow)

    class Display:
        def __init__(self):
            self.shown = []

        def recording(self, runs):
            self.shown.append(runs)

    display = Display()
    manager.register(display, name=PROGRESS_PLUGIN)
    sweep = make_sweep("shown", f"sqlite:///{tmp_path / 'mlflow.db'}")
    manager.hook.sweepnet_sweep_start(sweep=sweep)
    results = [record_trial(manager.hook, sweep, n, epochs=1)[1] for n in range(30)]
    manager.hook.sweepnet_sweep_end(sweep=sweep, results=results)
    assert display.shown and max(display.shown) <= 30 and display.shown[-1] < display.shown[0]


def test_a_sweeps_tracker_is_built_in_so_its_errors_fail_the_sweep_not_disable_it(manager, tmp_path, monkeypatch):
    """Through LifecycleHooks (what run_sweep calls), a TrackingError of a sweep's tracker is raised
    every time -- also from sweep_end, after the tracker unregistered itself -- never contained."""
    from sweepnet.tracking.recorder import SweepRecorder

    def full(*args, **kwargs):
        raise TrackingError("tracking store x: disk full")

    hooks = LifecycleHooks(manager)
    sweep = make_sweep("built-in", f"sqlite:///{tmp_path / 'mlflow.db'}")
    hooks.sweepnet_sweep_start(sweep=sweep)
    info = manager.info("sweepnet.tracker:built-in")
    assert info.builtin and info.label == f"plugin 'sweepnet.tracker:built-in' (sweepnet {__version__})"
    monkeypatch.setattr(SweepRecorder, "trial_end", full)
    monkeypatch.setattr(SweepRecorder, "close", full)
    spec, result = record_trial(hooks, sweep, 0, end=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)  # a contained plugin would be reported as one
        for call in (hooks.sweepnet_trial_end, hooks.sweepnet_trial_end):  # still called the second time
            with pytest.raises(TrackingError, match="disk full"):
                call(sweep=sweep, trial=spec, result=result)
        with pytest.raises(TrackingError, match="disk full"):
            hooks.sweepnet_sweep_end(sweep=sweep, results=[result])
    assert hooks.errors == [] and manager.get_plugin("sweepnet.tracker:built-in") is None


def test_building_the_registries_as_a_worker_does_never_loads_mlflow():
    """The tracker is a default plugin, so every Ray worker registers it: MLflow must stay out."""
    code = (
        "import sys\n"
        "from sweepnet.pluginmanager import get_registries\n"
        "get_registries()\n"
        "assert 'sweepnet.plugins.tracker' in sys.modules\n"
        "print([name for name in ('mlflow', 'matplotlib', 'sweepnet.tracking') if name in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_disabled_tracking_writes_nothing_and_keeps_no_history(manager, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = make_sweep("off", None, enabled=False)
    hook = manager.hook
    hook.sweepnet_sweep_prepare(sweep=sweep)
    hook.sweepnet_sweep_start(sweep=sweep)
    results = [record_trial(hook, sweep, 0)[1]]
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    assert hook.sweepnet_sweep_history(sweep=sweep) is None
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_tracking_uri_fails_at_sweep_prepare_and_start_naming_it(manager):
    for call in (manager.hook.sweepnet_sweep_prepare, manager.hook.sweepnet_sweep_start):
        with pytest.raises(TrackingError, match="tracking store htp://127.0.0.1:5000: "):
            call(sweep=make_sweep("typo", "htp://127.0.0.1:5000"))


def test_sweep_prepare_opens_the_store_writes_once_and_records_nothing(manager, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    manager.hook.sweepnet_sweep_prepare(sweep=make_sweep("prepared", uri))
    assert [experiment.name for experiment in MlflowClient(uri).search_experiments()] == ["Default"]
    assert list((tmp_path / "artifacts").iterdir()) == []  # the write check left nothing
