"""Printing rich tables so that nothing is cut where nobody can widen the window.

On a terminal a table fits the window (rich shrinks and wraps its columns). In a log, a pipe or
a CI transcript there is no window: a cut cell (``sweepnet-leaky-re...``) only hides what the
reader came for, so the table is printed as wide as its content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["print_table"]

_UNBOUNDED = 100_000  # "any width" for measuring a table's natural width


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` on ``console``: to fit a terminal, else at its full natural width."""
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(_UNBOUNDED), table).maximum
    previous = console.width
    console.width = max(previous, natural)
    try:
        console.print(table)
    finally:
        console.width = previous
