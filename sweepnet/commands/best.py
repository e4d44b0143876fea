"""``sweepnet best SWEEP``: the leaderboard of a recorded sweep, and where its best model is.

::

    sweepnet best digits-mlp                 # the 10 best trials of the latest invocation
    sweepnet best digits-mlp --limit 3 --tracking-uri http://127.0.0.1:5000

The trials come from the tracking store (see :mod:`sweepnet.tracking`), so this works while the
sweep runs, after it finished, and after its driver died.
"""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``best`` subcommand."""
    parser = subparsers.add_parser(
        "best",
        help="show the leaderboard of a recorded sweep and where its best model is",
        description="Rank the trials of the latest invocation of SWEEP, as the tracking store holds "
        "them, and print where the best trial's weights (model.npz) are.",
    )
    parser.add_argument("sweep", metavar="SWEEP", help="the sweep's name (its MLflow experiment)")
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI to read (default: $MLFLOW_TRACKING_URI, then sqlite:///sweepnet-results/mlflow.db)",
    )
    parser.add_argument("--limit", type=_positive_int, default=10, help="show the N best trials (default: 10)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the leaderboard and the best model's location; returns the exit status."""
    from rich.console import Console

    from sweepnet import leaderboard
    from sweepnet.tables import print_table
    from sweepnet.tracking import read_sweep

    record = read_sweep(args.sweep, args.tracking_uri)
    console = Console()
    title = f"{record.name} ({record.status.lower()}): {len(record.entries)} trials by {record.metric}"
    table = leaderboard.to_table(record.entries, record.metric, record.mode, limit=args.limit, title=title)
    print_table(console, table)
    best = leaderboard.best(record.entries, record.metric, record.mode)
    if best is None:
        console.print(f"no trial has finished with a {record.metric} yet", highlight=False)
        return 0
    spec, result = best
    shown = (record.metric, record.metric.replace("val_", "test_", 1))  # e.g. val_acc and test_acc
    scores = ", ".join(f"{key} {result.metrics[key]:.4g}" for key in dict.fromkeys(shown) if key in result.metrics)
    console.print(f"best: trial {spec.number} ({spec.trial_id[:8]}) {scores}", highlight=False)
    console.print(f"model: {record.models.get(spec.trial_id, 'no weights recorded')}", highlight=False, soft_wrap=True)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
