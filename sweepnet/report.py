"""The one-page sweep report: ``report.html``, one self-contained file.

It holds the sweep at a glance (status, trials by state, the best trial), every summary figure
inline (PNG as ``data:`` URIs), the leaderboard, the sweep file and its ``--set`` overrides, and
links to the sweep's runs in the MLflow UI. No script, style sheet or image is fetched from
elsewhere, so it opens from a mail attachment or an artifact store as it is.

``sweepnet report SWEEP`` writes it from the store at any time (:func:`sweep_report`). The
tracker writes it on the parent run when a sweep ends: it draws :func:`report_figures` while
its last trials are written, and builds the page (:func:`build_report`) once their runs exist,
so that every trial links to its run. Nothing here knows MLflow.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from string import Template
from typing import TYPE_CHECKING, Any

from sweepnet import __version__, leaderboard
from sweepnet.leaderboard import Entry
from sweepnet.plots.params import scored
from sweepnet.records import TrialState

if TYPE_CHECKING:
    import numpy as np

    from sweepnet.data import DatasetMeta
    from sweepnet.plots import IterationLoss

__all__ = [
    "DEFAULT_UI_URL",
    "ReportFigure",
    "RunLinks",
    "build_report",
    "report_figures",
    "run_links",
    "sweep_report",
    "ui_url",
]

DEFAULT_UI_URL = "http://127.0.0.1:5000"
"""Where ``sweepnet ui`` serves a SQLite store's runs by default."""

_SHOWN_ROWS = 50  # leaderboard rows on the page; the rest fold away


@dataclass(frozen=True)
class ReportFigure:
    """A figure of the report: its artifact name (``plots/heatmap.png``), PNG bytes and caption."""

    name: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class RunLinks:
    """Pages of the sweep's runs in the MLflow UI.

    Attributes
    ----------
    sweep : the parent run's page (None: unknown).
    trials : trial id -> its child run's page.
    """

    sweep: str | None = None
    trials: Mapping[str, str] = field(default_factory=dict)


def ui_url(tracking_uri: str) -> str:
    """The MLflow UI of a store: an MLflow server serves its own; a SQLite store is browsed
    with ``sweepnet ui`` at :data:`DEFAULT_UI_URL`."""
    return tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else DEFAULT_UI_URL


def run_links(ui: str, experiment_id: str, sweep_run_id: str, trial_run_ids: Mapping[str, str]) -> RunLinks:
    """The MLflow UI's pages (``<ui>/#/experiments/<id>/runs/<run id>``) of a sweep's runs."""
    base = f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs"
    return RunLinks(f"{base}/{sweep_run_id}", {trial: f"{base}/{run}" for trial, run in trial_run_ids.items()})


def sweep_report(
    name: str,
    entries: Iterable[Entry],
    config: Mapping[str, Any],
    metric: str,
    mode: str,
    *,
    sweep_text: str = "",
    overrides: Sequence[str] = (),
    status: str = "",
    links: RunLinks | None = None,
    data_meta: DatasetMeta | None = None,
    best_weights: Mapping[str, np.ndarray] | None = None,
    iteration_loss: IterationLoss | None = None,
) -> tuple[dict[str, bytes], str]:
    """Draw the sweep's figures and write its report.

    Parameters are those of :func:`sweepnet.plots.sweep_plots` and :func:`build_report`.

    Returns
    -------
    ``({artifact name: PNG bytes}, report HTML)``.
    """
    entries = list(entries)
    figures = report_figures(
        entries, config, metric, mode, data_meta=data_meta, best_weights=best_weights, iteration_loss=iteration_loss
    )
    page = build_report(
        name, entries, metric, mode, figures, sweep_text=sweep_text, overrides=overrides, status=status, links=links
    )
    return {figure.name: figure.png for figure in figures}, page


def report_figures(
    entries: Iterable[Entry],
    config: Mapping[str, Any],
    metric: str,
    mode: str,
    *,
    data_meta: DatasetMeta | None = None,
    best_weights: Mapping[str, np.ndarray] | None = None,
    iteration_loss: IterationLoss | None = None,
) -> list[ReportFigure]:
    """The figures of :func:`sweepnet.plots.sweep_plots` as PNG with their captions, in page order
    (the tracker draws them while its last trials are written, and writes the page after them)."""
    from sweepnet import plots

    drawn = plots.sweep_plots(
        entries, config, metric, mode, data_meta=data_meta, best_weights=best_weights, iteration_loss=iteration_loss
    )
    return [ReportFigure(key, plots.to_png(figure), plots.caption(figure)) for key, figure in drawn.items()]


def build_report(
    name: str,
    entries: Iterable[Entry],
    metric: str,
    mode: str,
    figures: Sequence[ReportFigure],
    *,
    sweep_text: str = "",
    overrides: Sequence[str] = (),
    status: str = "",
    links: RunLinks | None = None,
    generated: datetime | None = None,
) -> str:
    """The report's HTML.

    Parameters
    ----------
    name : the sweep's name.
    entries : ``(TrialSpec, TrialResult)`` pairs of the sweep.
    metric, mode : what it optimises (the leaderboard's order).
    figures : the figures, in page order.
    sweep_text, overrides : the sweep file as written and its ``--set`` overrides.
    status : the parent run's status (``RUNNING``, ``FINISHED``, ``KILLED`` ...).
    links : pages of the runs in the MLflow UI.
    generated : when the report is written (default: now).
    """
    entries = list(entries)
    links = links or RunLinks()
    generated = generated or datetime.now().astimezone()
    fields = {
        "name": _text(name),
        "summary": _summary(entries, metric, mode, status, links),
        "best": _best(entries, metric, mode, links),
        "figure_index": "".join(
            f'<li><a href="#{_anchor(f.name)}">{_text(f.caption or f.name)}</a></li>' for f in figures
        ),
        "figures": "".join(_figure(figure) for figure in figures) or "<p>No figure applies to these trials yet.</p>",
        "leaderboard": _leaderboard(entries, metric, mode, links),
        "sweep_file": _text(sweep_text) or "(not started from a sweep file)",
        "overrides": _overrides(overrides),
        "footer": _text(f"Written {generated:%Y-%m-%d %H:%M:%S %Z} by sweepnet {__version__}."),
    }
    return _PAGE.substitute(fields)


def _summary(entries: list[Entry], metric: str, mode: str, status: str, links: RunLinks) -> str:
    states = Counter(result.state for _, result in entries)
    counts = ", ".join(f"{states[state]} {state.value.lower()}" for state in TrialState if states[state])
    parts = [f"<b>{len(entries)}</b> trials" + (f" ({_text(counts)})" if counts else "")]
    parts.append(f"ranked by <code>{_text(metric)}</code> ({'higher' if mode == 'max' else 'lower'} is better)")
    if status:
        parts.append(f"sweep <span class=status>{_text(status.lower())}</span>")
    if links.sweep:
        parts.append(f'<a href="{_attr(links.sweep)}">the sweep in the MLflow UI</a>')
    note = ""
    if status.upper() == "RUNNING":
        note = "<p class=note>Written while the sweep runs: trials still running show the epochs reported so far.</p>"
    return "<p>" + " &middot; ".join(parts) + "</p>" + note


def _best(entries: list[Entry], metric: str, mode: str, links: RunLinks) -> str:
    ranked = leaderboard.rank(entries, metric, mode)
    if not scored(ranked[:1], metric):
        return f"<p>No trial has ended with a finite <code>{_text(metric)}</code> yet.</p>"
    spec, result = ranked[0]
    first = [metric, metric.replace("val_", "test_", 1)]  # what it was chosen by, then how it held up
    keys = [key for key in dict.fromkeys([*first, *result.metrics]) if key in result.metrics]
    scores = ", ".join(
        f"<code>{_text(key)}</code> {_number(result.metrics[key])}"
        for key in keys
        if not key.startswith(f"{metric}_fold")
    )
    params = "".join(
        f"<tr><th>{_text(path)}</th><td>{_text(_value(value))}</td></tr>" for path, value in spec.params.items()
    )
    trial = _link(f"trial {spec.number} ({spec.trial_id[:8]})", links.trials.get(spec.trial_id))
    return f"<p>{trial}: {scores}</p>" + (f"<table class=params>{params}</table>" if params else "")


def _figure(figure: ReportFigure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = _text(figure.caption) + (" &middot; " if figure.caption else "") + f"<code>{_text(figure.name)}</code>"
    return (
        f'<figure id="{_anchor(figure.name)}">'
        f'<img src="data:image/png;base64,{data}" alt="{_attr(figure.caption or figure.name)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _leaderboard(entries: list[Entry], metric: str, mode: str, links: RunLinks) -> str:
    if not entries:
        return "<p>No trial has started yet.</p>"
    header, rows = leaderboard.rows(entries, metric, mode)
    ids = [spec.trial_id for spec, _ in leaderboard.rank(entries, metric, mode)]
    head = "<tr>" + "".join(f"<th>{_text(name)}</th>" for name in header) + "</tr>"

    def body(selected: Iterable[tuple[str, list[Any]]]) -> str:
        lines = []
        for trial_id, row in selected:
            cells = [_text(_value(value)) for value in row]
            cells[2] = _link(cells[2], links.trials.get(trial_id))  # the trial id column
            lines.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
        return "".join(lines)

    paired = list(zip(ids, rows, strict=True))
    page = f"<table class=board><thead>{head}</thead><tbody>{body(paired[:_SHOWN_ROWS])}</tbody></table>"
    if len(paired) > _SHOWN_ROWS:
        page += (
            f"<details><summary>The other {len(paired) - _SHOWN_ROWS} trials</summary>"
            f"<table class=board><thead>{head}</thead><tbody>{body(paired[_SHOWN_ROWS:])}</tbody></table></details>"
        )
    return page


def _overrides(overrides: Sequence[str]) -> str:
    if not overrides:
        return ""
    items = "".join(f"<li><code>--set {_text(item)}</code></li>" for item in overrides)
    return f"<p>Run with these overrides, applied in order:</p><ul>{items}</ul>"


def _link(text: str, url: str | None) -> str:
    """``text`` (already escaped) as a link to ``url`` when there is one."""
    return f'<a href="{_attr(url)}">{text}</a>' if url else text


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _number(value: float) -> str:
    return f"{value:.4g}"


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


_PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$name · sweepnet report</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 0;
       background: #f6f7f9; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { margin: 0 0 4px; font-size: 28px; }
h2 { margin: 36px 0 12px; font-size: 20px; border-bottom: 1px solid #d5d9e0; padding-bottom: 4px; }
section { background: #fff; border: 1px solid #e1e4ea; border-radius: 6px; padding: 4px 20px 16px; margin-top: 18px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
pre { background: #f2f4f7; padding: 12px; overflow-x: auto; border-radius: 4px; }
.status { font-weight: 600; }
.note { color: #8a5a00; }
figure { margin: 20px 0 28px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; border: 1px solid #eceef2; }
figcaption { text-align: center; color: #4a5261; margin-top: 6px; }
table { border-collapse: collapse; font-size: 13px; }
table.board { width: 100%; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e6e8ee; text-align: left; white-space: nowrap; }
table.board thead th { position: sticky; top: 0; background: #eef1f5; }
table.board tbody tr:nth-child(even) { background: #fafbfc; }
.scroll { overflow-x: auto; }
table.params th { color: #4a5261; font-weight: normal; }
nav ul { columns: 2; margin: 0; }
footer { color: #6b7280; font-size: 13px; margin-top: 28px; }
</style>
</head>
<body>
<main>
<header>
<h1>$name</h1>
$summary
</header>
<section id="best">
<h2>Best trial</h2>
$best
</section>
<section id="figures">
<h2>Figures</h2>
<nav><ul>$figure_index</ul></nav>
$figures
</section>
<section id="leaderboard">
<h2>Leaderboard</h2>
<div class="scroll">$leaderboard</div>
</section>
<section id="sweep-file">
<h2>Sweep file</h2>
<pre>$sweep_file</pre>
$overrides
</section>
<footer>$footer</footer>
</main>
</body>
</html>
"""
)
