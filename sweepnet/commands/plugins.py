"""``sweepnet plugins``: list every registered component; ``--check`` runs the conformance kit.

::

    sweepnet plugins           # kind, name, provider, version, description; plugins that failed to load
    sweepnet plugins --check   # also gradient-check every layer and step-check every optimizer;
                               # exits 1 naming each offender
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from sweepnet.pluginmanager import PluginInfo
    from sweepnet.registry import Component, Registries

__all__ = ["register", "run"]

_CHECK_CONFIG = {"learning_rate": 1e-2}  # a step size at which every sane rule descends within 100 steps


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plugins`` subcommand."""
    parser = subparsers.add_parser(
        "plugins",
        help="list installed plugins and their components",
        description="List every registered layer, optimizer, dataset, model, searcher and pruner "
        "with the package that provides it, and the plugins that failed to load.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="also run the conformance kit (gradient checks, optimizer step checks) over every "
        "layer and optimizer; exit 1 naming each one that fails",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the components (and the check results); returns the exit status."""
    from rich.console import Console
    from rich.text import Text

    from sweepnet.pluginmanager import get_plugin_manager, get_registries

    console = Console()
    registries = get_registries()
    failures = get_plugin_manager().failures
    console.print(_components_table(registries, console.width))
    if failures:
        console.print(_failures_table(failures))
    if not args.check:
        return 0
    offenders = [f"{info.label}: {info.error}" for info in failures] + _run_checks(registries, console)
    for offender in offenders:
        console.print(Text.assemble(("FAILED ", "bold red"), offender), soft_wrap=True)  # one line each, for grep
    checked = len(registries.layers) + len(registries.optimizers)
    console.print(f"checked {checked} layers and optimizers: {len(offenders)} problem(s)", highlight=False)
    return 1 if offenders else 0


def _components_table(registries: Registries, width: int) -> Table:
    """A rich table of every component, one line each; descriptions are cut to fit ``width``."""
    from rich.table import Table
    from rich.text import Text

    components = [component for _, registry in registries.items() for component in registry]
    rows = [(c.kind, c.name, c.provider, c.version) for c in components]
    table = Table(title="sweepnet components")
    used = 1  # the right border; each column adds its padding and left border
    for index, column in enumerate(("kind", "name", "provider", "version")):
        table.add_column(column, no_wrap=True)
        used += 3 + max([len(column), *(len(row[index]) for row in rows)])
    table.add_column("description", no_wrap=True, overflow="ellipsis", max_width=max(12, width - used - 3))
    for row, component in zip(rows, components):
        table.add_row(*row, Text(component.description.replace("``", "")))  # Text: "[norm]" is not markup
    return table


def _failures_table(failures: list[PluginInfo]) -> Table:
    """A rich table of the plugins that failed to load."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="plugins that failed to load", title_style="bold red")
    for column in ("plugin", "provider", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("error")
    for info in failures:
        table.add_row(info.name, info.provider, info.version, Text(info.error or ""))
    return table


def _run_checks(registries: Registries, console: Console) -> list[str]:
    """Run the conformance kit over every layer and optimizer; return one line per failure."""
    from sweepnet.testing import check_layer, check_optimizer

    problems = []
    components = [*registries.layers, *registries.optimizers]
    with console.status("running the conformance kit") as status:
        for component in components:
            status.update(f"checking {component.kind} {component.name}")
            try:
                if component.kind == "layer":
                    check_layer(component.obj)
                else:
                    check_optimizer(component.obj, _CHECK_CONFIG)
            except Exception as err:  # any failure, assertion or crash, names the offender
                problems.append(f"{_describe(component)}: {_one_line(err)}")
    return problems


def _describe(component: Component) -> str:
    """``layer 'gelu' (sweepnet-extras 0.1.0)``."""
    return f"{component.kind} {component.name!r} ({f'{component.provider} {component.version}'.strip()})"


def _one_line(err: Exception) -> str:
    """The error's message on one line; the exception type too unless it is an AssertionError."""
    message = " ".join(str(err).split())
    return message if isinstance(err, AssertionError) else f"{type(err).__name__}: {message}"
