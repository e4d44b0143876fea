"""``sweepnet resume SWEEP``: continue a recorded sweep whose driver stopped (Ctrl-C, crash, SIGKILL).

The sweep file and ``--set`` overrides come back from the tracking store, so this works without
the original file; only the trials that did not finish run::

    sweepnet resume digits-mlp --tracking-uri sqlite:///sweepnet-results/mlflow.db

Same run options and exit status as ``sweepnet sweep``.
"""

from __future__ import annotations

import argparse

from sweepnet.commands.sweep import add_run_options, execute, run_options, tracking_override

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``resume`` subcommand."""
    parser = subparsers.add_parser(
        "resume",
        help="continue a recorded sweep",
        description="Reload a sweep's file and overrides from the tracking store and run the trials "
        "that did not finish; finished trials are not run again.",
    )
    parser.add_argument("sweep", metavar="SWEEP", help="the sweep's name (its MLflow experiment)")
    add_run_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Rebuild the plan from the store and continue it."""
    from sweepnet.config import plan_from_text
    from sweepnet.tracking import recorded_data_meta, recorded_sweep, replay_unwritten, resolve_tracking_uri

    # Results saved when the store fell behind may hold the sweep's own file: written first.
    replay_unwritten(resolve_tracking_uri(args.tracking_uri), args.sweep)
    text, overrides = recorded_sweep(args.sweep, args.tracking_uri)
    plan = plan_from_text(text, [*overrides, *tracking_override(args.tracking_uri)], source=f"sweep {args.sweep}")
    meta = recorded_data_meta(args.sweep, args.tracking_uri)  # what is left is decided without the data set
    command = ["sweepnet", "resume", args.sweep, *run_options(args)]
    return execute(plan, args, resume=True, resume_command=command, recorded_meta=meta)
