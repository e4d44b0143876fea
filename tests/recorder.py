"""A plugin that records the lifecycle hook calls it sees, shared by the rules' and the scheduler's tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sweepnet import hookimpl
from sweepnet.records import TrialResult, TrialSpec


@dataclass
class Recorder:
    """A driver-side plugin recording the lifecycle hooks (and answering ``sweepnet_sweep_history``)."""

    history: list[tuple[TrialSpec, TrialResult]] | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    on_report: Any = None
    on_prepare: Any = None

    @hookimpl
    def sweepnet_sweep_prepare(self, sweep):
        self.calls.append(("sweep_prepare", sweep.resumed, threading.current_thread().name))
        if self.on_prepare is not None:
            self.on_prepare()

    @hookimpl
    def sweepnet_sweep_start(self, sweep):
        self.calls.append(("sweep_start", sweep.resumed))

    @hookimpl
    def sweepnet_trial_start(self, trial):
        self.calls.append(("trial_start", trial.number))

    @hookimpl
    def sweepnet_trial_report(self, trial, epoch, metrics):
        self.calls.append(("trial_report", trial.number, epoch))
        if self.on_report is not None:
            self.on_report(trial, epoch)

    @hookimpl
    def sweepnet_trial_end(self, trial, result):
        self.calls.append(("trial_end", trial.number, result.state))

    @hookimpl
    def sweepnet_sweep_end(self, results):
        self.calls.append(("sweep_end", len(results)))

    @hookimpl
    def sweepnet_sweep_history(self):
        return self.history
