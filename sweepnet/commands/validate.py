"""``sweepnet validate CONFIG [--set k=v ...]``: the cheap pre-flight of a sweep file.

Loads and validates the file (every probe point of its search space), loads the data set and
builds every probe point's model, then prints a short summary::

    quickstart.yaml is valid
      sweep       quickstart (seed 0)
      data        digits: classification, 10 classes, inputs (64,), 1257 / 180 / 360 samples
      models      fc
      searcher    random: 20 trials
      pruner      asha {grace_period: 1, reduction_factor: 3}
      metric      val_acc (max), at most 20 epochs per trial
      parameters  4
        model.hidden_dims                  choice[[64], [128], [128, 64]]
        ...

A bad file prints the one-line error and exits with status 2.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweepnet.data import Dataset
    from sweepnet.plan import BoundPlan, SweepPlan

__all__ = ["add_config_arguments", "register", "run", "summary"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check a sweep file, its data set and its models without training",
        description="Validate a sweep file: schema, plugin names and options, every end of every search "
        "space, the data set, and the model of every probe point. Exit 0 with a summary, or 2 with "
        "the error.",
    )
    add_config_arguments(parser)
    parser.set_defaults(run=run)


def add_config_arguments(
    parser: argparse.ArgumentParser, metavar: str = "CONFIG", help: str = "the sweep file (YAML)"
) -> None:
    """``CONFIG`` and ``--set KEY=VALUE`` (repeatable), shared by the commands that read a sweep file."""
    parser.add_argument("config", metavar=metavar, help=help)
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a value of the file, e.g. --set solver.num_epochs=3 or --set model.hidden_dims=[64,64]; "
        "the value is YAML (a space like {choice: [1, 2]} works too); repeatable",
    )


def run(args: argparse.Namespace) -> int:
    """Validate, print the summary; returns 0 (errors are raised as ``SweepnetError``)."""
    from sweepnet.config import load_plan

    plan = load_plan(args.config, args.set)
    dataset = plan.load_dataset()
    plan.check(dataset)
    print(summary(plan, dataset))
    return 0


def summary(plan: SweepPlan, dataset: Dataset) -> str:
    """A few lines describing the sweep: data, models, searcher, pruner, metric, parameters."""
    meta = dataset.meta
    classes = f", {meta.num_classes} classes" if meta.task == "classification" else f", {meta.num_outputs} targets"
    sizes = " / ".join(str(len(x)) for x in (dataset.X_train, dataset.X_val, dataset.X_test))
    folds = f", {len(dataset.folds)}-fold cross-validation" if dataset.folds else ""
    leaves = plan.space.leaves()
    bound = plan.bind(meta)
    lines = [
        f"{plan.source} is valid",
        f"  sweep       {plan.name} (seed {plan.seed})",
        f"  data        {meta.name}: {meta.task}{classes}, inputs {tuple(meta.input_shape)}, {sizes} samples{folds}",
        f"  models      {', '.join(plan.model_names)}",
        f"  searcher    {plan.search.searcher}: {_budget(bound)}",
        f"  pruner      {plan.pruner_name}{_options(plan.pruner_options)}",
        f"  metric      {bound.metric} ({bound.mode}), at most {plan.max_epochs} epoch{'s' * (plan.max_epochs != 1)}"
        " per trial",
        f"  parameters  {len(leaves)}",
    ]
    width = max((len(path) for path, _ in leaves), default=0)
    lines += [f"    {path:<{width}}  {distribution}" for path, distribution in leaves]
    return "\n".join(lines)


def _budget(bound: BoundPlan) -> str:
    """``"12 trials"``, ``"at most 20 trials, 600 s"``, ``"until val_acc >= 0.95"`` ..."""
    plan, search = bound.plan, bound.plan.search
    parts = [f"{plan.total_trials} trials"] if plan.total_trials is not None else []
    if search.time_budget_s is not None:
        parts.append(f"{search.time_budget_s:g} s")
    if search.target is not None:
        parts.append(f"until {bound.metric} {'>=' if bound.mode == 'max' else '<='} {search.target:g}")
    size = plan.space.size
    grid = f" (of {size} points)" if search.searcher == "grid" and size != plan.total_trials else ""
    return ("at most " if len(parts) > 1 else "") + ", ".join(parts) + grid


def _options(options: dict[str, object]) -> str:
    return " {" + ", ".join(f"{key}: {value}" for key, value in options.items()) + "}" if options else ""
