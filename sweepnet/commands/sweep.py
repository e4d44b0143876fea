"""``sweepnet sweep CONFIG``: run a sweep on Ray, live, then show its leaderboard and best trial.

::

    sweepnet sweep examples/quickstart.yaml --set solver.num_epochs=5 --max-concurrent 2
    sweepnet sweep sweep.yaml --address 10.0.0.1:6379      # join a cluster (`ray start --head`)
    sweepnet sweep sweep.yaml --resume                     # continue it; finished trials are not re-run

Exit status: 0 when the sweep finished (failed trials are listed, not fatal); 2 on bad input, or
when a plugin's lifecycle hook failed (the tracking store could not be written); 130 on Ctrl-C --
after the running trials were recorded as KILLED and the command that resumes was printed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from sweepnet.config import SweepPlan
    from sweepnet.data import DatasetMeta
    from sweepnet.rules import SweepOutcome

__all__ = ["add_run_options", "execute", "register", "run", "run_options", "tracking_override"]

_SHOWN_FAILURES = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` subcommand."""
    parser = subparsers.add_parser(
        "sweep",
        help="run a sweep on Ray",
        description="Run every trial of a sweep file on Ray (this machine, or a cluster with --address), "
        "with a live progress display, then print the leaderboard and the best trial.",
    )
    parser.add_argument("config", type=Path, metavar="CONFIG", help="the sweep file (YAML)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by dotted path, e.g. --set solver.num_epochs=3 (repeatable)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue this sweep: run only the trials that did not finish"
    )
    add_run_options(parser)
    parser.set_defaults(run=run)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options ``sweep`` and ``resume`` share: where and how wide to run, where to record."""
    parser.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="join this Ray cluster (default: $RAY_ADDRESS, else a new local Ray instance)",
    )
    parser.add_argument(
        "--max-concurrent",
        type=_positive_int,
        metavar="N",
        help="trials at once (default: resources.max_concurrent, else as many as the cluster's CPUs fit)",
    )
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI to record to (overrides tracking.uri and $MLFLOW_TRACKING_URI)",
    )
    parser.add_argument("--dashboard", action="store_true", help="start Ray's dashboard (local Ray only)")


def run(args: argparse.Namespace) -> int:
    """Load the sweep file with its overrides and run it."""
    from sweepnet.config import load_plan

    overrides = [*args.overrides, *tracking_override(args.tracking_uri)]
    plan = load_plan(args.config, overrides=overrides)
    return execute(plan, args, resume=args.resume, resume_command=_resume_command(args))


def execute(
    plan: SweepPlan,
    args: argparse.Namespace,
    *,
    resume: bool,
    resume_command: Sequence[str],
    recorded_meta: DatasetMeta | None = None,
) -> int:
    """Run ``plan`` with the run options in ``args``, print the results; returns the exit status
    (``recorded_meta``: see :func:`~sweepnet.scheduler.run_sweep`)."""
    from rich.console import Console

    from sweepnet.progress import progress_for
    from sweepnet.scheduler import run_sweep

    console = Console(highlight=False)
    with progress_for(console) as progress:
        outcome = run_sweep(
            plan,
            address=args.address,
            max_concurrent=args.max_concurrent,
            resume=resume,
            recorded_meta=recorded_meta,
            progress=progress,
            dashboard=args.dashboard,
        )
    _print_results(outcome, console, args.tracking_uri)
    for message in outcome.hook_errors:  # e.g. the tracking store could not be written
        print(f"sweepnet: error: plugin hook {message}", file=sys.stderr)
    if outcome.interrupted:
        console.print("Interrupted; the running trials were recorded as KILLED. Resume with:")
        console.print(f"  {shlex.join(resume_command)}", markup=False, soft_wrap=True)
        return 130
    return 2 if outcome.hook_errors else 0


def _print_results(outcome: SweepOutcome, console: Console, tracking_uri: str | None) -> None:
    """Summary line, leaderboard, failures, best trial, and where to browse the results."""
    from rich.markup import escape

    from sweepnet.leaderboard import to_table
    from sweepnet.records import TrialState
    from sweepnet.tables import print_table

    sweep = outcome.sweep
    print_table(console, to_table(outcome.entries, sweep.metric, sweep.mode, title=f"sweep {sweep.name}: best trials"))
    failed = outcome.in_state(TrialState.FAILED, TrialState.DIVERGED)
    for spec, result in failed[:_SHOWN_FAILURES]:
        reason = escape(_last_line(result.error))
        console.print(
            f"[red]{result.state.value}[/] trial {spec.number} ({spec.trial_id[:8]}): {reason}", soft_wrap=True
        )
    if len(failed) > _SHOWN_FAILURES:
        console.print(f"... and {len(failed) - _SHOWN_FAILURES} more failed trials (see the tracking UI)")
    best = outcome.best
    if best is not None:
        spec, result = best
        metrics = ", ".join(
            f"{name} {result.metrics[name]:.4g}" for name in _reported(sweep.metric) if name in result.metrics
        )
        console.print(f"[bold]best[/]: trial {spec.number} ({spec.trial_id[:8]}): {metrics}")
        for path, value in spec.params.items():
            console.print(f"  {escape(path)} = {escape(repr(value))}")
    total = len(outcome.entries)
    status = f"{total} trials" + (f" ({_counts(outcome)})" if total else "")
    browse = "sweepnet ui" + (f" --tracking-uri {tracking_uri}" if tracking_uri else "")
    console.print(f"{status}. Browse them: {browse}", soft_wrap=True)


def _counts(outcome: SweepOutcome) -> str:
    counts = Counter(result.state for _, result in outcome.entries)
    return ", ".join(f"{count} {state.value.lower()}" for state, count in counts.items())


def _reported(metric: str) -> tuple[str, ...]:
    """The optimised metric and its test-split counterpart (``val_acc`` -> ``test_acc``)."""
    return (metric, metric.replace("val_", "test_", 1)) if metric.startswith("val_") else (metric,)


def _last_line(error: str | None) -> str:
    """The exception line of a traceback (its last non-empty line)."""
    lines = [line.strip() for line in (error or "no reason recorded").splitlines() if line.strip()]
    return lines[-1]


def tracking_override(uri: str | None) -> list[str]:
    """``--tracking-uri URI`` as a config override: the tracker reads the store from ``tracking.uri``."""
    return [f"tracking.uri={uri}"] if uri else []


def _resume_command(args: argparse.Namespace) -> list[str]:
    """The ``sweepnet sweep`` command line that continues this sweep."""
    command = ["sweepnet", "sweep", str(args.config)]
    for override in args.overrides:
        command += ["--set", override]
    return [*command, *run_options(args), "--resume"]


def run_options(args: argparse.Namespace) -> list[str]:
    """The run options of ``args`` as command-line arguments."""
    options = []
    for flag, value in (("--address", args.address), ("--max-concurrent", args.max_concurrent)):
        if value is not None:
            options += [flag, str(value)]
    if args.tracking_uri:
        options += ["--tracking-uri", args.tracking_uri]
    return options


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value
