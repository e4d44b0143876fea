"""The MLflow tracker, a built-in plugin on the lifecycle hooks (the record itself: :mod:`sweepnet.tracking`).

As pytest's ``TerminalReporter``: one :class:`Tracker` is registered on each plugin manager;
when a sweep starts it registers a :class:`SweepTracker` for that sweep on the same manager
(named ``sweepnet.tracker:<sweep>``, a built-in plugin like the tracker: an error of its hooks
fails the sweep instead of disabling it), which takes the sweep's trial hooks and unregisters
itself when the sweep ends.

``tracking: {enabled: false}`` in the sweep file turns it off. While the final flush waits for
the store, the plugin registered as :data:`sweepnet.progress.PROGRESS_PLUGIN` (the live display
of ``sweepnet sweep``) shows ``recording 812 trials...``.

This module imports neither MLflow nor the tracking package at import time: every Ray worker
registers the built-in plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweepnet import __version__, hookimpl
from sweepnet.errors import ConfigError
from sweepnet.records import SweepInfo, TrialResult, TrialSpec
from sweepnet.registry import BUILTIN_PROVIDER

if TYPE_CHECKING:
    from sweepnet.pluginmanager import PluginManager
    from sweepnet.tracking.reader import SweepRecord
    from sweepnet.tracking.recorder import SweepRecorder

__all__ = ["SweepTracker", "Tracker"]


class Tracker:
    """Opens the store for a sweep, answers ``sweepnet_sweep_history``, and registers a
    :class:`SweepTracker` per sweep on ``manager``."""

    def __init__(self, manager: PluginManager) -> None:
        self._manager = manager
        self._read: SweepRecord | None = None  # the history last read, reused by the resumed sweep_start

    @hookimpl
    def sweepnet_sweep_prepare(self, sweep: SweepInfo) -> None:
        """Open the store and write to it once (while Ray starts), so a store that cannot be
        written is an error before any trial; importing MLflow here also takes it off the
        critical path."""
        from sweepnet.tracking.store import check_writable

        if (uri := _uri(sweep)) is not None:
            check_writable(uri)

    @hookimpl
    def sweepnet_sweep_history(self, sweep: SweepInfo) -> list[tuple[TrialSpec, TrialResult]] | None:
        """The trials recorded under the sweep's latest parent run, with states and per-epoch
        histories, after writing any results saved when the store could not take them.

        None when tracking is disabled; an empty list when the store holds no such sweep.
        """
        from sweepnet.tracking.reader import read_record
        from sweepnet.tracking.unwritten import replay_unwritten

        if (uri := _uri(sweep)) is None:
            return None
        replay_unwritten(uri, sweep.name)
        self._read = read_record(uri, sweep.name, histories=True, sweep_config=sweep.config)
        return [] if self._read is None else self._read.entries

    @hookimpl
    def sweepnet_sweep_start(self, sweep: SweepInfo) -> None:
        """Open the sweep's parent run (a new one, or the latest one when ``sweep.resumed``) and
        register the sweep's tracker -- unless the invocation resumes a complete record with
        nothing left to run: that record stands, and nothing is written (nor MLflow imported)."""
        if (uri := _uri(sweep)) is None:
            return
        name = f"sweepnet.tracker:{sweep.name}"
        earlier = self._manager.get_plugin(name)
        if earlier is not None:  # an invocation in this process that never ended
            earlier.recorder.abandon()
            self._manager.unregister(earlier)
        previous = self._read if self._read is not None and self._read.name == sweep.name and sweep.resumed else None
        self._read = None
        if sweep.nothing_left and previous is not None and previous.is_complete():
            return
        from sweepnet.tracking.recorder import DEFAULT_FLUSH_TIMEOUT, SweepRecorder

        timeout = float(_settings(sweep).get("flush_timeout", DEFAULT_FLUSH_TIMEOUT))
        recorder = SweepRecorder(sweep, uri, stall_timeout=timeout, previous=previous)
        tracker = SweepTracker(self._manager, sweep.name, recorder)
        self._manager.register_plugin(tracker, name, provider=BUILTIN_PROVIDER, version=__version__)


class SweepTracker:
    """Records one sweep: its trials' hooks go to ``recorder``; unregisters itself at the end."""

    def __init__(self, manager: PluginManager, sweep_name: str, recorder: SweepRecorder) -> None:
        self._manager, self.sweep_name, self.recorder = manager, sweep_name, recorder

    @hookimpl
    def sweepnet_trial_start(self, sweep: SweepInfo, trial: TrialSpec) -> None:
        """Queue the trial's child run: its params and identifying tags."""
        if sweep.name == self.sweep_name:
            self.recorder.trial_start(trial)

    @hookimpl
    def sweepnet_trial_report(self, sweep: SweepInfo, trial: TrialSpec, epoch: int, metrics: dict[str, float]) -> None:
        """Queue one epoch's metrics at ``step=epoch``."""
        if sweep.name == self.sweep_name:
            self.recorder.trial_report(trial, epoch, metrics)

    @hookimpl
    def sweepnet_trial_end(self, sweep: SweepInfo, trial: TrialSpec, result: TrialResult) -> None:
        """Queue the trial's final metrics, tags, weights and traceback, and close its run."""
        if sweep.name == self.sweep_name:
            self.recorder.trial_end(trial, result)

    @hookimpl
    def sweepnet_sweep_end(self, sweep: SweepInfo, results: list[TrialResult]) -> None:
        """Log the leaderboard, plots and best model on the parent run, then wait for every write.

        Raises
        ------
        TrackingError
            when the store made no progress for ``tracking.flush_timeout`` seconds, rejected a
            write, or Ctrl-C stopped the wait; the unwritten results are saved to a file first,
            and the message names it and the command that writes it later.
        """
        from sweepnet.progress import PROGRESS_PLUGIN

        if sweep.name != self.sweep_name:
            return
        self._manager.unregister(self)
        display = self._manager.get_plugin(PROGRESS_PLUGIN)
        self.recorder.close(results, waiting=display.recording if display is not None else None)


def _settings(sweep: SweepInfo) -> dict[str, Any]:
    """The sweep config's ``tracking`` section (``uri``, ``enabled``, ``flush_timeout``)."""
    settings = sweep.config.get("tracking") or {}
    if not isinstance(settings, dict):
        raise ConfigError("tracking", f"must be a mapping, got {settings!r}")
    return settings


def _uri(sweep: SweepInfo) -> str | None:
    """The sweep's store, None when tracking is disabled."""
    from sweepnet.tracking.store import resolve_tracking_uri

    settings = _settings(sweep)
    return resolve_tracking_uri(config_uri=settings.get("uri")) if settings.get("enabled", True) else None
