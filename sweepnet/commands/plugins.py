"""``sweepnet plugins``: list every registered component; ``--check`` runs the conformance kit.

::

    sweepnet plugins             # kind, name, provider, version, description; name clashes;
                                 # plugins that failed to load or are disabled
    sweepnet plugins --check     # also check every layer and optimizer, one line each;
                                 # exits 1 when any fails or a plugin failed to load
    sweepnet plugins --markdown  # the components as a markdown table (docs/plugins.md lists the built-ins so)
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from sweepnet.pluginmanager import PluginInfo, PluginManager
    from sweepnet.registry import Conflict, Registries

__all__ = ["components_markdown", "register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plugins`` subcommand."""
    parser = subparsers.add_parser(
        "plugins",
        help="list installed plugins and their components",
        description="List every registered layer, optimizer, dataset, model, searcher and pruner "
        "with the package that provides it, the names two plugins offer, and the plugins that "
        "failed to load or are disabled.",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--check",
        action="store_true",
        help="also run the conformance kit (gradient checks, optimizer step checks) over every "
        "layer and optimizer, one line each; exit 1 when any fails or a plugin failed to load",
    )
    output.add_argument("--markdown", action="store_true", help="print the components as a markdown table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the components (and the check results); returns the exit status."""
    from rich.console import Console

    from sweepnet.pluginmanager import get_plugin_manager, get_registries
    from sweepnet.tables import print_table

    registries = get_registries()
    if args.markdown:
        print(components_markdown(registries), end="")
        return 0
    manager = get_plugin_manager()
    console = Console()
    print_table(console, _components_table(registries, console))
    conflicts = [conflict for _, registry in registries.items() for conflict in registry.conflicts]
    if conflicts:
        print_table(console, _conflicts_table(conflicts))
    if manager.failures or manager.disabled:
        print_table(console, _plugins_table(manager))
    if not args.check:
        return 0
    problems = _run_checks(registries, console)
    for info in manager.failures:
        problems.append(_report(console, False, f"{info.label}: {info.error}"))
    checked = len(registries.layers) + len(registries.optimizers)
    console.print(f"checked {checked} layers and optimizers: {len(problems)} problem(s)", highlight=False)
    return 1 if problems else 0


def components_markdown(registries: Registries) -> str:
    """Every component as a markdown table: kind, name, provider, description."""
    lines = ["| kind | name | provider | description |", "|---|---|---|---|"]
    for _, registry in registries.items():
        for c in registry:
            description = c.description.replace("|", "\\|")
            lines.append(f"| {c.kind} | `{c.name}` | {c.provider} | {description} |")
    return "\n".join(lines) + "\n"


def _components_table(registries: Registries, console: Console) -> Table:
    """A rich table of every component, one line each; on a terminal descriptions are cut to fit."""
    from rich.table import Table
    from rich.text import Text

    components = [component for _, registry in registries.items() for component in registry]
    rows = [(c.kind, c.name, c.provider, c.version) for c in components]
    table = Table(title="sweepnet components")
    used = 1  # the right border; each column adds its padding and left border
    for index, column in enumerate(("kind", "name", "provider", "version")):
        table.add_column(column, no_wrap=True)
        used += 3 + max([len(column), *(len(row[index]) for row in rows)])
    fit = max(12, console.width - used - 3) if console.is_terminal else None
    table.add_column("description", no_wrap=True, overflow="ellipsis", max_width=fit)
    for row, component in zip(rows, components, strict=True):
        table.add_row(*row, Text(component.description.replace("``", "")))  # Text: "[norm]" is not markup
    return table


def _conflicts_table(conflicts: list[Conflict]) -> Table:
    """The names two providers offer: who answers to it, who was skipped, and why."""
    from rich.table import Table

    from sweepnet.pluginmanager import PREFER_ENV

    table = Table(title=f"name clashes (choose with {PREFER_ENV}=NAME=DISTRIBUTION)", title_style="bold yellow")
    for column in ("kind", "name", "used", "skipped", "why"):
        table.add_column(column, no_wrap=True)
    for conflict in conflicts:
        why = f"preferred by {PREFER_ENV}" if conflict.preferred else "registered first"
        table.add_row(conflict.kept.kind, conflict.kept.name, conflict.kept.origin, conflict.skipped.origin, why)
    return table


def _plugins_table(manager: PluginManager) -> Table:
    """The plugins that failed to load, and those disabled by ``$SWEEPNET_DISABLE_PLUGINS``."""
    from rich.table import Table
    from rich.text import Text

    from sweepnet.pluginmanager import DISABLE_ENV

    table = Table(title="plugins not loaded", title_style="bold red")
    for column in ("plugin", "provider", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("why")
    rows: list[tuple[PluginInfo, str]] = [(info, info.error or "") for info in manager.failures]
    rows += [(info, f"disabled by {DISABLE_ENV}") for info in manager.disabled]
    for info, why in rows:
        table.add_row(info.name, info.provider, info.version, Text(why))
    return table


def _run_checks(registries: Registries, console: Console) -> list[str]:
    """Check every layer and optimizer, printing one line each; returns one line per failure."""
    from sweepnet.conformance import check_component

    problems = []
    for component in [*registries.layers, *registries.optimizers]:
        start = time.perf_counter()
        with console.status(f"checking {component.label}"):
            problem = check_component(component)
        if problem is None:
            _report(console, True, f"{component.label} ({time.perf_counter() - start:.2f} s)")
        else:
            problems.append(_report(console, False, f"{component.label}: {problem}"))
    return problems


def _report(console: Console, ok: bool, line: str) -> str:
    """Print ``ok     <line>`` or ``FAILED <line>``, on one line whatever its length (for grep)."""
    from rich.text import Text

    console.print(Text.assemble(("ok     ", "green") if ok else ("FAILED ", "bold red"), line), soft_wrap=True)
    return line
