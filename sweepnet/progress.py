"""The live view of a running sweep: trials done / running / pruned / failed, best so far, ETA.

On a terminal it is a rich progress bar redrawn in place; otherwise (CI logs, pipes) one plain
line every few seconds, so logs stay readable::

    with progress_for(console) as progress:
        progress.update(rules.status())
        progress.recording(812)   # after the trials: "recording 812 trials..."

While a sweep runs, :func:`sweepnet.scheduler.run_sweep` registers the display on the plugin
manager as :data:`PROGRESS_PLUGIN` (as pytest's ``terminalreporter``), so the tracker can show
its final flush on it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sweepnet.records import TrialState
from sweepnet.rules import SweepStatus

__all__ = ["PROGRESS_PLUGIN", "LiveProgress", "PlainProgress", "SweepProgress", "describe", "progress_for"]

PROGRESS_PLUGIN = "sweepnet.progress"


def describe(status: SweepStatus) -> str:
    """``"10 done (8 completed, 1 pruned, 1 failed), 2 running, best val_acc 0.9611 (trial 4)"``."""
    counts = ", ".join(
        f"{status.states[state]} {state.value.lower()}" for state in _FINAL_STATES if status.states.get(state)
    )
    text = f"{status.finished} done" + (f" ({counts})" if counts else "") + f", {status.running} running"
    if status.best_value is not None:
        text += f", best {status.metric} {status.best_value:.4g} (trial {status.best_number})"
    return text


_FINAL_STATES = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.DIVERGED, TrialState.FAILED, TrialState.KILLED)


class SweepProgress:
    """Shows :class:`SweepStatus` snapshots; a context manager that cleans up the display on exit."""

    def update(self, status: SweepStatus) -> None:
        """Show ``status`` (called after every batch of events; implementations throttle)."""

    def recording(self, runs: int) -> None:
        """Show that the trials are over and ``runs`` runs are still being written to the store
        (called a few times a second; implementations throttle)."""

    def close(self) -> None:
        """Stop the display, leaving the last status on screen."""

    def __enter__(self) -> SweepProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class LiveProgress(SweepProgress):
    """A rich progress bar (a pulsing one when the total is unknown) with the status line beside it."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
        )
        self._task: TaskID | None = None

    def update(self, status: SweepStatus) -> None:
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task("trials", total=status.total, completed=status.finished, status="")
        self._bar.update(self._task, total=status.total, completed=status.finished, status=describe(status))

    def recording(self, runs: int) -> None:
        if self._task is not None:
            self._bar.update(self._task, status=_recording(runs))

    def close(self) -> None:
        self._bar.stop()


class PlainProgress(SweepProgress):
    """One plain line per ``interval_s`` seconds while the status changes, and one at the end.

    ``[12/27] 10 done (...), 2 running, best val_acc 0.96 (trial 4); 0:00:12 elapsed, eta 0:00:20``
    """

    def __init__(self, console: Console, interval_s: float = 5.0) -> None:
        self._console = console
        self._interval_s = interval_s
        self._last: SweepStatus | None = None
        self._printed: str | None = None
        self._printed_at = -float("inf")
        self._first: tuple[float, int] | None = None  # (elapsed, finished) when first seen, for the rate

    def update(self, status: SweepStatus) -> None:
        if self._first is None:
            self._first = (status.elapsed_s, status.finished)
        self._last = status
        if time.monotonic() - self._printed_at >= self._interval_s:
            self._print(status)

    def recording(self, runs: int) -> None:
        if time.monotonic() - self._printed_at >= self._interval_s:
            self._printed, self._printed_at = _recording(runs), time.monotonic()
            self._console.print(self._printed, highlight=False, markup=False, soft_wrap=True)

    def close(self) -> None:
        if self._last is not None:
            self._print(self._last)

    def _print(self, status: SweepStatus) -> None:
        line = f"[{status.finished}/{status.total if status.total is not None else '?'}] {describe(status)}"
        if line == self._printed:
            return
        self._printed, self._printed_at = line, time.monotonic()
        eta = self._eta(status)
        timing = f"{_clock(status.elapsed_s)} elapsed" + (f", eta {_clock(eta)}" if eta is not None else "")
        self._console.print(f"{line}; {timing}", highlight=False, markup=False, soft_wrap=True)

    def _eta(self, status: SweepStatus) -> float | None:
        """Seconds left at this invocation's rate of finishing trials; None when unknown."""
        assert self._first is not None
        start_s, start_finished = self._first
        done = status.finished - start_finished
        if status.total is None or done <= 0:
            return None
        return (status.elapsed_s - start_s) / done * max(0, status.total - status.finished)


def progress_for(console: Console, *, interval_s: float = 5.0) -> SweepProgress:
    """A live bar on a terminal, plain periodic lines otherwise."""
    return LiveProgress(console) if console.is_terminal else PlainProgress(console, interval_s)


def _recording(runs: int) -> str:
    return f"recording {runs} trial{'s' if runs != 1 else ''}..."


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))
