"""``sweepnet trial CONFIG [--set k=v ...] [--trial N] [--pdb] [--quiet]``: run ONE trial in this process.

No Ray, and nothing is written to MLflow: the quickest way to debug a model or a config. Without
``--trial`` the trial is the first point the sweep's searcher proposes (seeded with the sweep
seed); ``--set`` fixes any value, e.g. ``--set solver.optim_config.learning_rate=1e-3`` replaces
that search space. Prints the familiar Solver lines, then the final metrics::

    (Iteration 1 / 380) loss: 2.302585
    (Epoch 0 / 20) train acc: 0.101000; val_acc: 0.094444
    ...
    COMPLETED in 3.1 s: val_acc 0.9611, test_acc 0.9528, train_acc 0.9990, epochs 20

With ``--trial N`` (a trial number, or a prefix of a trial id) it re-runs a recorded trial: CONFIG
is then a recorded sweep's name (its file and overrides come from the store, as for ``sweepnet
resume``) or a sweep file whose ``name`` the store holds. The trial's hyperparameters and seed
come from its run, and the per-epoch history is compared with the recorded one::

    sweepnet trial quickstart --trial 23 --pdb

Exit status: 0 for COMPLETED (or PRUNED), 1 for FAILED or DIVERGED (with the reason), 2 for a
bad file, an unknown sweep or trial. ``--pdb`` drops into the post-mortem debugger where the
trial raised.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sweepnet.commands.validate import add_config_arguments

if TYPE_CHECKING:
    from sweepnet.data import Dataset
    from sweepnet.records import TrialResult, TrialSpec
    from sweepnet.replay import Replay
    from sweepnet.schema import TrialSetup

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``trial`` subcommand."""
    parser = subparsers.add_parser(
        "trial",
        help="run one trial in this process: a sweep file's first point, or a recorded trial (--trial)",
        description="Run the first point of the sweep's searcher (or the values fixed with --set) in this "
        "process, printing the Solver's progress and the final metrics; with --trial, re-run a recorded "
        "trial of a sweep (CONFIG is then a sweep file or a recorded sweep's name).",
    )
    add_config_arguments(
        parser, metavar="CONFIG|SWEEP", help="the sweep file (YAML); with --trial also a recorded sweep's name"
    )
    parser.add_argument(
        "--trial",
        metavar="N",
        help="re-run recorded trial N: its number, or a prefix of its trial id (sweepnet best lists both)",
    )
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI to read the recorded trial from (default: the file's tracking.uri, "
        "$MLFLOW_TRACKING_URI, then sqlite:///sweepnet-results/mlflow.db)",
    )
    parser.add_argument("--pdb", action="store_true", help="start the post-mortem debugger if the trial raises")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the final metrics")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the trial; returns 0 (COMPLETED, PRUNED) or 1 (FAILED, DIVERGED)."""
    from sweepnet.config import load_plan
    from sweepnet.errors import ConfigError
    from sweepnet.records import TrialState

    replay = None
    if args.trial is not None:
        from sweepnet.replay import recorded_trial

        replay = recorded_trial(args.config, args.trial, args.set, args.tracking_uri)
        plan, spec, setup = replay.plan, replay.spec, replay.setup
    elif args.tracking_uri:
        raise ConfigError("--tracking-uri", "only --trial reads the tracking store")
    else:
        plan = load_plan(args.config, args.set)
    dataset = plan.load_dataset()
    plan.check(dataset)
    if replay is None:
        params = plan.bind(dataset.meta).make_searcher().ask()
        if params is None:
            raise ConfigError("search.searcher", "proposed no trial to run")
        spec, setup = plan.trial(params, number=0)
        print(f"trial {spec.trial_id[:8]} of sweep {plan.name} (seed {spec.seed})")
    else:
        _print_recorded(replay)
    plan.check_model_size(setup, dataset.meta)  # a point no probe covered; in a sweep it fails only its trial
    for path, value in spec.params.items():
        print(f"  {path} = {value!r}")
    result = _run(spec, setup, dataset, verbose=not args.quiet, debug=args.pdb)
    if result is None:
        return 1
    print(_describe(result))
    if replay is not None:
        _compare_history(result, replay)
    if result.state in (TrialState.COMPLETED, TrialState.PRUNED):
        return 0
    if result.error:
        print(result.error.rstrip(), file=sys.stderr)
    print(f"sweepnet: trial {result.state.value}", file=sys.stderr)
    return 1


def _print_recorded(replay: Replay) -> None:
    """The recorded trial, and how what runs now differs from it."""
    from sweepnet.replay import config_differences

    recorded, result = replay.recorded, replay.result
    print(
        f"trial {recorded.number} ({recorded.trial_id[:8]}) of sweep {replay.record.name} (seed {recorded.seed}), "
        f"recorded {_describe(result)}"
    )
    if replay.spec.trial_id != recorded.trial_id:
        changes = config_differences(replay.spec.config, recorded.config) if recorded.config else []
        print(f"  differs from the recorded trial: {'; '.join(changes) or 'its config'}")


def _compare_history(result: TrialResult, replay: Replay) -> None:
    """Say whether this run repeated the recorded per-epoch metrics."""
    from sweepnet.replay import history_difference

    recorded = replay.recorded_history()
    difference = history_difference(result.history, recorded)
    ran, kept = len(result.history), len(recorded)
    if not recorded:
        print("history: none was recorded")
    elif difference is not None:
        print(f"history: differs from the record at {difference}")
    elif ran < kept:
        print(f"history: the {_epochs(ran)} that ran repeat the record exactly ({kept} were recorded)")
    else:
        print(f"history: the {_epochs(kept)} recorded, reproduced exactly")


def _epochs(count: int) -> str:
    return f"{count} epoch{'s' * (count != 1)}"


def _run(spec: TrialSpec, setup: TrialSetup, dataset: Dataset, *, verbose: bool, debug: bool) -> TrialResult | None:
    """``run_trial``; with ``debug``, an exception opens ``pdb.post_mortem`` and gives None."""
    from sweepnet.trial import run_trial

    if not debug:
        return run_trial(spec, dataset=dataset, setup=setup, verbose=verbose)
    try:
        return run_trial(spec, dataset=dataset, setup=setup, verbose=verbose, raise_errors=True)
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
