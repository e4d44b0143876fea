"""The leaderboard of a sweep: its trials ranked by the optimised metric.

One ranking, three renderings: a rich table for the terminal (``sweepnet sweep``, ``sweepnet
best``), CSV and markdown for the tracking store.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sweepnet.records import TrialResult, TrialSpec, TrialState

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Entry", "best", "can_rank", "rank", "rows", "to_csv", "to_markdown", "to_table"]

Entry = tuple[TrialSpec, TrialResult]

_RANKED_STATES = (TrialState.COMPLETED, TrialState.PRUNED)


def can_rank(result: TrialResult, metric: str) -> bool:
    """True for a completed or pruned trial with a finite ``metric``: one that can be the sweep's best."""
    value = result.metrics.get(metric)
    return result.state in _RANKED_STATES and value is not None and math.isfinite(value)


def best(entries: Iterable[Entry], metric: str, mode: str) -> Entry | None:
    """The entry that ranks first, None when no trial can rank (see :func:`rank`)."""
    ranked = rank(entries, metric, mode)
    return ranked[0] if ranked and can_rank(ranked[0][1], metric) else None


def rank(entries: Iterable[Entry], metric: str, mode: str) -> list[Entry]:
    """Entries best first: completed or pruned trials with a finite ``metric``, ordered by it
    (``mode`` "max" or "min"), then every other trial in the order the searcher produced them.

    A small validation split makes ties common (180 digits images: one image is 0.56 points).
    Among equal scores the trial that trained more epochs comes first (its score held up for
    longer, where a pruned one was cut short), then the one with the lower final training loss
    (the better fit of the same validation score), then the searcher's order.
    """
    entries = list(entries)

    def order(entry: Entry) -> tuple[float, float, float, int]:
        spec, result = entry
        value = result.metrics[metric]
        loss = result.metrics.get("loss", math.inf)
        return (
            -value if mode == "max" else value,
            -(_epochs(result) or 0),
            loss if math.isfinite(loss) else math.inf,
            spec.number,
        )

    ranked = sorted((entry for entry in entries if can_rank(entry[1], metric)), key=order)
    rest = sorted((entry for entry in entries if not can_rank(entry[1], metric)), key=lambda entry: entry[0].number)
    return ranked + rest


def rows(entries: Iterable[Entry], metric: str, mode: str) -> tuple[list[str], list[list[Any]]]:
    """``(header, rows)`` of the ranked leaderboard.

    Columns: rank, trial number and id, state, ``metric``, the matching test metric when
    trials report one (``val_acc`` -> ``test_acc``), epochs, duration, then every
    hyperparameter by dotted path (empty where a conditional parameter does not apply).
    """
    ranked = rank(entries, metric, mode)
    test_metric = metric.replace("val_", "test_", 1) if metric.startswith("val_") else None
    if test_metric and not any(test_metric in result.metrics for _, result in ranked):
        test_metric = None
    params: list[str] = []
    for spec, _ in ranked:
        params.extend(path for path in spec.params if path not in params)
    header = ["rank", "trial", "id", "state", metric, *([test_metric] if test_metric else []), "epochs", "seconds"]
    table = []
    for position, (spec, result) in enumerate(ranked, start=1):
        row: list[Any] = [position, spec.number, spec.trial_id[:8], result.state.value, result.metrics.get(metric)]
        if test_metric:
            row.append(result.metrics.get(test_metric))
        row += [_epochs(result), round(result.duration_s, 2)]
        row += [spec.params.get(path) for path in params]
        table.append(row)
    return header + params, table


def to_table(entries: Iterable[Entry], metric: str, mode: str, *, limit: int | None = 10, title: str = "") -> Table:
    """A rich table of the best ``limit`` trials (all when None)."""
    header, table = rows(entries, metric, mode)
    from rich.table import Table  # rich only where a table is drawn: trial workers import this module

    rendered = Table(title=title or None)
    for name in header:
        rendered.add_column(name, justify="right" if name in ("rank", "trial", "epochs", "seconds") else "left")
    for row in table[:limit] if limit is not None else table:
        rendered.add_row(*(_format(value) for value in row))
    return rendered


def to_csv(entries: Iterable[Entry], metric: str, mode: str) -> str:
    """The whole leaderboard as CSV text."""
    header, table = rows(entries, metric, mode)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if value is None else value for value in row] for row in table])
    return buffer.getvalue()


def to_markdown(entries: Iterable[Entry], metric: str, mode: str) -> str:
    """The whole leaderboard as a markdown table."""
    header, table = rows(entries, metric, mode)
    lines = [_markdown_row(header), _markdown_row(["---"] * len(header))]
    lines += [_markdown_row([_format(value) for value in row]) for row in table]
    return "\n".join(lines) + "\n"


def _markdown_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _epochs(result: TrialResult) -> float | None:
    """Epochs a trial trained: its history's length, or the count recorded with a read-back result."""
    return len(result.history) or result.metrics.get("epochs")
