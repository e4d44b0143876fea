"""``sweepnet trial CONFIG [--set k=v ...] [--pdb] [--quiet]``: run ONE trial in this process.

No Ray, no MLflow: the quickest way to debug a model or a config. The trial is the first point the
sweep's searcher proposes (seeded with the sweep seed); ``--set`` fixes any value, e.g.
``--set solver.optim_config.learning_rate=1e-3`` replaces that search space. Prints the familiar
Solver lines, then the final metrics::

    (Iteration 1 / 380) loss: 2.302585
    (Epoch 0 / 20) train acc: 0.101000; val_acc: 0.094444
    ...
    COMPLETED in 3.1 s: val_acc 0.9611, test_acc 0.9528, train_acc 0.9990, epochs 20

Exit status: 0 for COMPLETED (or PRUNED), 1 for FAILED or DIVERGED (with the reason), 2 for a bad
file. ``--pdb`` drops into the post-mortem debugger where the trial raised.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sweepnet.commands.validate import add_config_arguments

if TYPE_CHECKING:
    from sweepnet.data import Dataset
    from sweepnet.records import TrialResult, TrialSpec

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``trial`` subcommand."""
    parser = subparsers.add_parser(
        "trial",
        help="run one trial of a sweep file in this process (no Ray, no MLflow)",
        description="Run the first point of the sweep's searcher (or the values fixed with --set) in this "
        "process, printing the Solver's progress and the final metrics.",
    )
    add_config_arguments(parser)
    parser.add_argument("--pdb", action="store_true", help="start the post-mortem debugger if the trial raises")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the final metrics")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the trial; returns 0 (COMPLETED, PRUNED) or 1 (FAILED, DIVERGED)."""
    from sweepnet.config import load_plan
    from sweepnet.records import TrialState

    plan = load_plan(args.config, args.set)
    dataset = plan.load_dataset()
    plan.check(dataset)
    spec = plan.trial_spec(plan.make_searcher().ask(), number=0)
    print(f"trial {spec.trial_id[:8]} of sweep {plan.name} (seed {spec.seed})")
    for path, value in spec.params.items():
        print(f"  {path} = {value!r}")
    result = _run(spec, dataset, verbose=not args.quiet, debug=args.pdb)
    if result is None:
        return 1
    print(_describe(result))
    if result.state in (TrialState.COMPLETED, TrialState.PRUNED):
        return 0
    if result.error:
        print(result.error.rstrip(), file=sys.stderr)
    print(f"sweepnet: trial {result.state.value}", file=sys.stderr)
    return 1


def _run(spec: TrialSpec, dataset: Dataset, *, verbose: bool, debug: bool) -> TrialResult | None:
    """``run_trial``; with ``debug``, an exception opens ``pdb.post_mortem`` and gives None."""
    from sweepnet.trial import run_trial

    if not debug:
        return run_trial(spec, dataset=dataset, verbose=verbose)
    try:
        return run_trial(spec, dataset=dataset, verbose=verbose, raise_errors=True)
    except Exception:
        import pdb
        import traceback

        traceback.print_exc()
        pdb.post_mortem(sys.exc_info()[2])
        return None


def _describe(result: TrialResult) -> str:
    """``"COMPLETED in 3.1 s: val_acc 0.9611, test_acc 0.9528, ..."``: the headline metrics first."""
    first = ("val_acc", "val_rmse", "test_acc", "test_rmse", "train_acc", "train_rmse", "loss", "epochs")
    names = [name for name in first if name in result.metrics]
    names += sorted(name for name in result.metrics if name not in names)
    values = ", ".join(f"{name} {result.metrics[name]:.4g}" for name in names)
    return f"{result.state.value} in {result.duration_s:.1f} s" + (f": {values}" if values else "")
