"""The sweep's live display: a rich bar on a terminal, throttled plain lines elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from sweepnet.progress import LiveProgress, PlainProgress, describe, progress_for
from sweepnet.records import TrialState
from sweepnet.rules import SweepStatus


def _status(finished=0, running=2, total=10, elapsed=0.0, best=None, **states):
    counts = {TrialState(state.upper()): count for state, count in states.items()}
    counts.setdefault(TrialState.COMPLETED, finished - sum(counts.values()))
    return SweepStatus(
        total=total,
        states={state: count for state, count in counts.items() if count},
        running=running,
        best_value=best,
        best_number=None if best is None else 4,
        metric="val_acc",
        mode="max",
        elapsed_s=elapsed,
    )


def _console(terminal=False):
    return Console(file=io.StringIO(), force_terminal=terminal, width=200)


def test_describe_counts_each_final_state_and_the_best_trial():
    status = _status(10, pruned=3, failed=1, best=0.96111)
    assert describe(status) == "10 done (6 completed, 3 pruned, 1 failed), 2 running, best val_acc 0.9611 (trial 4)"
    assert describe(_status(0, running=0)) == "0 done, 0 running"


def test_plain_lines_are_throttled_and_the_last_one_is_always_printed():
    console = _console()
    progress = PlainProgress(console, interval_s=3600)
    with progress:
        progress.update(_status(0, elapsed=1.0))
        progress.update(_status(1, elapsed=2.0))  # within the interval: not printed now
        progress.update(_status(4, elapsed=4.0, best=0.5))
    lines = console.file.getvalue().splitlines()
    assert lines[0] == "[0/10] 0 done, 2 running; 0:00:01 elapsed"
    # 4 trials in 3 s at the rate seen since the first status: 6 more take 4.5 s
    assert lines[1] == (
        "[4/10] 4 done (4 completed), 2 running, best val_acc 0.5 (trial 4); 0:00:04 elapsed, eta 0:00:04"
    )
    assert len(lines) == 2


def test_plain_progress_prints_each_change_when_not_throttled():
    console = _console()
    progress = PlainProgress(console, interval_s=0)
    for finished in (0, 0, 1, 1):
        progress.update(_status(finished))
    progress.close()
    assert [line.split(" ")[0] for line in console.file.getvalue().splitlines()] == ["[0/10]", "[1/10]"]


def test_unknown_total_has_no_eta():
    console = _console()
    progress = PlainProgress(console, interval_s=0)
    progress.update(_status(0, total=None))
    progress.update(_status(3, total=None, elapsed=9.0))
    assert console.file.getvalue().splitlines()[-1].endswith("0:00:09 elapsed")
    assert console.file.getvalue().startswith("[0/?]")


def test_a_terminal_gets_a_live_bar_with_the_status():
    console = _console(terminal=True)
    assert isinstance(progress_for(console), LiveProgress)
    assert isinstance(progress_for(_console()), PlainProgress)
    with LiveProgress(console) as progress:
        progress.update(_status(3, best=0.75, elapsed=1.0))
        progress.update(_status(5, best=0.8, elapsed=2.0))
    output = console.file.getvalue()
    assert "5/10" in output and "best val_acc 0.8 (trial 4)" in output
