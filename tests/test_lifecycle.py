"""Lifecycle hooks called plugin by plugin: one that raises is reported once and disabled, the rest go on."""

from __future__ import annotations

import pytest

from sweepnet import __version__, hookimpl
from sweepnet.lifecycle import LifecycleHooks
from sweepnet.pluginmanager import PluginManager, PluginWarning
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState

SWEEP = SweepInfo(name="s", config={}, config_text="", metric="val_acc", mode="max")
TRIALS = [TrialSpec(trial_id=f"t{i}", number=i, params={}, config={}, seed=i) for i in range(3)]


def _result(spec: TrialSpec) -> TrialResult:
    return TrialResult(trial_id=spec.trial_id, state=TrialState.COMPLETED, metrics={"val_acc": 0.5})


class Recorder:
    """Records the trials it sees end; answers the history when it has one."""

    def __init__(self, history=None) -> None:
        self.ended: list[str] = []
        self.history = history

    @hookimpl
    def sweepnet_trial_end(self, trial):
        self.ended.append(trial.trial_id)

    @hookimpl
    def sweepnet_sweep_history(self, sweep):
        return self.history


class Broken:
    """Raises in trial_end; counts the calls of its other hooks."""

    def __init__(self) -> None:
        self.ends = 0
        self.sweep_ends = 0

    @hookimpl
    def sweepnet_trial_end(self, trial, result):
        self.ends += 1
        raise KeyError("val_acc")

    @hookimpl
    def sweepnet_sweep_end(self, results):
        self.sweep_ends += 1

    @hookimpl
    def sweepnet_sweep_history(self, sweep):
        raise OSError("no such bucket")


def _manager(*plugins: tuple[object, str, str]) -> PluginManager:
    """A manager with ``(plugin, name, provider)`` registered in order (pluggy calls the last first)."""
    manager = PluginManager()
    for plugin, name, provider in plugins:
        version = __version__ if provider == "sweepnet" else "0.2"
        manager.register_plugin(plugin, name, provider=provider, version=version)
    return manager


def test_a_plugin_that_raises_is_reported_once_and_disabled_while_the_others_carry_on():
    tracker, other, broken = Recorder(), Recorder(), Broken()
    plugins = [(tracker, "sweepnet.tracker", "sweepnet"), (other, "other", "other-dist"), (broken, "notify", "notify")]
    hooks = LifecycleHooks(_manager(*plugins))
    with pytest.warns(PluginWarning) as caught:
        for spec in TRIALS:
            hooks.sweepnet_trial_end(sweep=SWEEP, trial=spec, result=_result(spec))
        hooks.sweepnet_sweep_end(sweep=SWEEP, results=[])
    message = (
        "plugin 'notify' (notify 0.2): sweepnet_trial_end raised KeyError: 'val_acc'; "
        "disabled for the rest of the sweep"
    )
    assert [str(w.message) for w in caught] == [message]
    assert hooks.errors == [message]
    assert tracker.ended == other.ended == ["t0", "t1", "t2"]
    assert (broken.ends, broken.sweep_ends) == (1, 0)  # disabled: none of its hooks run again


def test_each_sweep_gets_its_own_disabled_set():
    broken = Broken()
    manager = _manager((broken, "notify", "sweepnet-notify"))
    for _ in range(2):
        with pytest.warns(PluginWarning):
            LifecycleHooks(manager).sweepnet_trial_end(sweep=SWEEP, trial=TRIALS[0], result=_result(TRIALS[0]))
    assert broken.ends == 2


def test_a_builtin_that_raises_is_raised_after_the_others_were_called():
    class FailingTracker:
        @hookimpl
        def sweepnet_trial_end(self, trial):
            raise RuntimeError("store is read-only")

    other = Recorder()
    hooks = LifecycleHooks(_manager((other, "other", "other-dist"), (FailingTracker(), "sweepnet.tracker", "sweepnet")))
    with pytest.raises(RuntimeError, match="read-only"):  # the caller decides (the driver records it)
        hooks.sweepnet_trial_end(sweep=SWEEP, trial=TRIALS[0], result=_result(TRIALS[0]))
    assert other.ended == ["t0"]
    with pytest.raises(RuntimeError, match="read-only"):  # built-ins are never disabled
        hooks.sweepnet_trial_end(sweep=SWEEP, trial=TRIALS[1], result=_result(TRIALS[1]))
    assert other.ended == ["t0", "t1"]


def test_the_history_comes_from_the_first_plugin_that_answers_despite_one_that_raises():
    history = [(TRIALS[0], _result(TRIALS[0]))]
    hooks = LifecycleHooks(
        _manager(
            (Recorder(history), "sweepnet.tracker", "sweepnet"), (Recorder(), "quiet", "q"), (Broken(), "notify", "n")
        )
    )
    with pytest.warns(PluginWarning, match="plugin 'notify' .n 0.2.: sweepnet_sweep_history raised OSError"):
        assert hooks.sweepnet_sweep_history(sweep=SWEEP) == history
    assert LifecycleHooks(_manager((Recorder(), "quiet", "q"))).sweepnet_sweep_history(sweep=SWEEP) is None


def test_hook_arguments_reach_each_plugin_by_name():
    class Partial:
        def __init__(self) -> None:
            self.seen = []

        @hookimpl
        def sweepnet_trial_report(self, epoch, metrics):
            self.seen.append((epoch, metrics["loss"]))

    partial = Partial()
    hooks = LifecycleHooks(_manager((partial, "partial", "p")))
    hooks.sweepnet_trial_report(sweep=SWEEP, trial=TRIALS[0], epoch=3, metrics={"loss": 0.5})
    assert partial.seen == [(3, 0.5)]
    with pytest.raises(AttributeError):
        hooks.sweepnet_no_such_hook  # noqa: B018
