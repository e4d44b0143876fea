"""report.html: one self-contained page with the summary, every figure, the leaderboard, the sweep file and links."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import numpy as np

from sweepnet.records import TrialResult, TrialSpec, TrialState
from sweepnet.report import DEFAULT_UI_URL, ReportFigure, RunLinks, build_report, run_links, sweep_report, ui_url

PNG = b"\x89PNG\r\n\x1a\n" + b"fake image bytes"
SWEEP_FILE = "name: demo\nmodel: {name: fc, reg: {grid: [0.1, 1.0]}}  # <b>not markup</b> & co\n"


class _Page(HTMLParser):
    """Tags, attributes and text of a page, and whether every tag opened was closed."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag):
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def _entries(count):
    entries = []
    for number in range(count):
        spec = TrialSpec(f"{number:040x}", number, {"model.reg": 0.1 * (number + 1)}, {}, seed=number)
        state = TrialState.FAILED if number == 1 else TrialState.COMPLETED
        metrics = {} if state is TrialState.FAILED else {"val_acc": 0.5 + number / (2 * count), "test_acc": 0.5}
        entries.append((spec, TrialResult(spec.trial_id, state, metrics, duration_s=1.5)))
    return entries


def _page(entries, **options):
    figures = [ReportFigure("plots/heatmap.png", PNG, "Training and validation accuracy over lr × reg")]
    figures.append(ReportFigure("plots/importance.png", PNG + b"2", "Hyperparameter importance"))
    links = run_links(
        "http://127.0.0.1:5000", "7", "parent-run", {spec.trial_id: f"run-{spec.number}" for spec, _ in entries}
    )
    defaults = {"sweep_text": SWEEP_FILE, "overrides": ["solver.num_epochs=2"], "status": "FINISHED", "links": links}
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return build_report("demo", entries, "val_acc", "max", figures, generated=when, **(defaults | options))


def test_the_page_is_well_formed_and_fetches_nothing():
    page = _page(_entries(4))
    parsed = _Page(page)
    assert parsed.open == []  # every tag opened is closed
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "<link" not in page
    assert [attrs["src"][:22] for attrs in parsed.all("img")] == ["data:image/png;base64,"] * 2
    assert not re.search(r"""(src|href)=["']?(https?:)?//(?!127\.0\.0\.1:5000/)""", page)


def test_every_figure_is_inline_with_its_caption_and_file_name():
    parsed = _Page(_page(_entries(4)))
    images = [base64.b64decode(attrs["src"].split(",", 1)[1]) for attrs in parsed.all("img")]
    assert images == [PNG, PNG + b"2"]
    assert "Training and validation accuracy over lr × reg · plots/heatmap.png" in parsed.words
    anchors = [attrs["href"] for attrs in parsed.all("a") if attrs["href"].startswith("#")]
    assert anchors == ["#plots-heatmap-png", "#plots-importance-png"]
    assert [attrs["id"] for attrs in parsed.all("figure")] == ["plots-heatmap-png", "plots-importance-png"]


def test_the_leaderboard_ranks_the_trials_and_links_each_to_its_run():
    parsed = _Page(_page(_entries(4)))
    words = parsed.words
    assert "4 trials (3 completed, 1 failed)" in words and "ranked by val_acc (higher is better)" in words
    assert "sweep finished" in words
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td>", _page(_entries(4)))
    assert rows == [("1", "3"), ("2", "2"), ("3", "0"), ("4", "1")]  # by val_acc, the failed trial last
    links = [attrs["href"] for attrs in parsed.all("a") if not attrs["href"].startswith("#")]
    assert links[0] == "http://127.0.0.1:5000/#/experiments/7/runs/parent-run"  # the sweep
    assert "http://127.0.0.1:5000/#/experiments/7/runs/run-3" in links
    best = " ".join(re.sub(r"<[^>]+>", "", _page(_entries(4)).split('id="best"')[1]).split())
    assert "trial 3 (00000000): val_acc 0.875, test_acc 0.5" in best  # the best, linked to its run


def test_the_sweep_file_and_overrides_are_shown_as_text():
    page = _page(_entries(2))
    assert "&lt;b&gt;not markup&lt;/b&gt; &amp; co" in page and "<b>not markup</b>" not in page
    assert "--set solver.num_epochs=2" in _Page(page).words


def test_a_long_leaderboard_folds_after_50_rows():
    page = _page(_entries(120))
    shown, folded = page.split("<details>")
    assert shown.count("<tr><td>") == 50 and folded.count("<tr><td>") == 70
    assert "The other 70 trials" in folded


def test_a_running_sweep_says_so_and_an_empty_one_has_no_best():
    running = _Page(_page(_entries(2), status="RUNNING")).words
    assert "sweep running" in running and "Written while the sweep runs" in running
    empty = _Page(build_report("demo", [], "val_acc", "max", [])).words
    assert "No trial has ended with a finite val_acc yet" in empty and "No trial has started yet" in empty
    assert "No figure applies" in empty


def test_links_point_at_the_server_or_at_sweepnet_ui():
    assert ui_url("http://mlflow.example:5000/") == "http://mlflow.example:5000"
    assert ui_url("sqlite:///sweepnet-results/mlflow.db") == DEFAULT_UI_URL == "http://127.0.0.1:5000"
    links = run_links("http://h:1", "3", "p", {"t": "r"})
    assert links == RunLinks("http://h:1/#/experiments/3/runs/p", {"t": "http://h:1/#/experiments/3/runs/r"})


def test_sweep_report_draws_the_figures_of_the_page():
    entries = []
    for number, (lr, reg) in enumerate((lr, reg) for lr in (1e-3, 1e-2) for reg in (0.1, 1.0)):
        spec = TrialSpec(f"{number:040x}", number, {"lr": lr, "reg": reg}, {}, seed=number)
        rows = [{"epoch": 1, "loss": 2.0, "train_acc": 0.5, "val_acc": 0.4}]
        loss = np.array([[1, 2.3], [2, 2.0]], dtype=np.float32)
        entries.append(
            (
                spec,
                TrialResult(
                    spec.trial_id,
                    TrialState.COMPLETED,
                    {"val_acc": 0.4 + number / 10, "train_acc": 0.5},
                    rows,
                    iteration_loss=loss,
                ),
            )
        )
    pictures, page = sweep_report("demo", entries, {}, "val_acc", "max", status="FINISHED")
    assert set(pictures) == {
        "plots/heatmap.png",
        "plots/loss_history.png",
        "plots/val_acc_vs_params.png",
        "plots/importance.png",
    }
    sources = [attrs["src"] for attrs in _Page(page).all("img")]
    assert [base64.b64decode(src.split(",", 1)[1]) for src in sources] == list(pictures.values())
