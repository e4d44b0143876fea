"""print_table: a table fits a terminal, and is printed whole where there is no window."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from sweepnet.tables import print_table

LONG = "sweepnet-leaky-relu-with-a-long-distribution-name"


def _table() -> Table:
    table = Table(title="components")
    for column in ("name", "provider", "description"):
        table.add_column(column)
    table.add_row("leaky_relu", LONG, "a description that is longer than a narrow window by itself alone")
    return table


def test_a_table_is_full_width_when_not_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=False)
    print_table(console, _table())
    text = out.getvalue()
    assert LONG in text and "narrow window by itself alone" in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) > 100
    assert console.width == 40  # restored for what is printed next


def test_a_table_fits_a_terminal():
    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=True, color_system=None)
    print_table(console, _table())
    assert max(len(line) for line in out.getvalue().splitlines()) <= 40
