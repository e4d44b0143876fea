"""``sweepnet report SWEEP`` writes the sweep's page from the store: finished, running, or unknown."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from sweepnet.cli import main
from sweepnet.data import DatasetMeta
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState
from sweepnet.tracking import TrackingError, read_sweep

LR, REG = "solver.optim_config.learning_rate", "model.reg"
SWEEP_TEXT = """\
name: {name}
data: {{name: digits, flatten: true}}
model: {{name: softmax, reg: {{grid: [0.01, 0.1]}}}}
solver: {{optim_config: {{learning_rate: {{grid: [0.001, 0.01, 0.1]}}}}}}
search: {{searcher: grid}}
"""
DIGITS = DatasetMeta("digits", "classification", (64,), num_classes=10, class_names=tuple("0123456789"))


def _sweep(name: str, uri: str) -> SweepInfo:
    text = SWEEP_TEXT.format(name=name)
    config = {**yaml.safe_load(text), "tracking": {"uri": uri}}
    return SweepInfo(name, config, text, "val_acc", "max", overrides=("solver.num_epochs=2",), data_meta=DIGITS)


def _trial(hook, sweep, number, *, end=True):
    lr, reg = (0.001, 0.01, 0.1)[number % 3], (0.01, 0.1)[number // 3]
    spec = TrialSpec(f"{number:02d}" + "f" * 38, number, {REG: reg, LR: lr}, {}, seed=number)
    hook.sweepnet_trial_start(sweep=sweep, trial=spec)
    score = 0.5 + 0.1 * (number % 3) - 0.05 * (number // 3)
    history = [{"epoch": 1, "loss": 0.5, "train_acc": score + 0.05, "val_acc": score}]  # a classic model: one epoch
    for row in history:
        hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=row["epoch"], metrics=dict(row))
    if not end:
        return spec, None
    loss = np.column_stack([np.arange(1, 41), np.linspace(2.3, 0.3, 40)]).astype(np.float32)
    weights = {"W": np.random.default_rng(number).standard_normal((64, 10))}
    metrics = {"val_acc": score, "train_acc": score + 0.05, "test_acc": score - 0.02}
    result = TrialResult(spec.trial_id, TrialState.COMPLETED, metrics, history, 1.0, weights, iteration_loss=loss)
    hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
    return spec, result


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store holding the finished 3 x 2 grid sweep ``softmax-grid``; returns its URI."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    hook = create_plugin_manager(autoload=False).hook
    sweep = _sweep("softmax-grid", uri)
    hook.sweepnet_sweep_start(sweep=sweep)
    results = [_trial(hook, sweep, number)[1] for number in range(6)]
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    return uri


def _figures(page: str) -> list[str]:
    return re.findall(r"<code>(plots/[^<]+)</code></figcaption>", page)


def test_writes_the_page_of_a_finished_sweep(store, tmp_path, capsys):
    output = tmp_path / "out" / "grid.html"
    assert main(["report", "softmax-grid", "--tracking-uri", store, "-o", str(output)]) == 0
    assert capsys.readouterr().out == f"wrote {output} (6 trials of softmax-grid, finished)\n"
    page = output.read_text()
    assert _figures(page) == [
        "plots/heatmap.png",
        "plots/compare_model.reg_vs_solver.optim_config.learning_rate.png",  # a series per reg
        "plots/loss_history.png",
        "plots/class_templates.png",  # the weights, class names and data set from the store
        "plots/val_acc_vs_params.png",
        "plots/importance.png",
    ]
    record = read_sweep("softmax-grid", store)
    run = record.run_ids[record.entries[2][0].trial_id]
    assert f"http://127.0.0.1:5000/#/experiments/{record.experiment_id}/runs/{run}" in page
    assert "--set solver.num_epochs=2" in page and "data: {name: digits, flatten: true}" in page
    assert not list(output.parent.glob(".grid.html.*"))  # no temporary file left


def test_the_page_logged_at_the_end_of_the_sweep_shows_the_same_figures(store, tmp_path):
    record = read_sweep("softmax-grid", store)
    client = MlflowClient(store)
    logged = {info.path for info in client.list_artifacts(record.run_id)}
    assert "report.html" in logged and "data_meta.json" in logged
    page = Path(client.download_artifacts(record.run_id, "report.html", str(tmp_path))).read_text()
    assert main(["report", "softmax-grid", "--tracking-uri", store, "-o", str(tmp_path / "now.html")]) == 0
    assert _figures(page) == _figures((tmp_path / "now.html").read_text()) and "plots/class_templates.png" in page
    assert "sweep finished" in " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_default_output_stdout_and_ui_url(store, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "softmax-grid", "--tracking-uri", store]) == 0
    assert (tmp_path / "report-softmax-grid.html").is_file()
    capsys.readouterr()
    assert (
        main(["report", "softmax-grid", "--tracking-uri", store, "-o", "-", "--ui-url", "http://mlflow.lab:8080"]) == 0
    )
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>") and "http://mlflow.lab:8080/#/experiments/" in page


def test_an_unknown_sweep_or_an_unwritable_file_is_a_one_line_error(store, tmp_path, capsys):
    assert main(["report", "no-such-sweep", "--tracking-uri", store, "-o", str(tmp_path / "x.html")]) == 2
    assert capsys.readouterr().err == f"sweepnet: error: no sweep named 'no-such-sweep' in tracking store {store}\n"
    assert not (tmp_path / "x.html").exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["report", "softmax-grid", "--tracking-uri", store, "-o", str(blocker / "r.html")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"sweepnet: error: cannot write the report to {blocker / 'r.html'}: ") and err.count("\n") == 1
    )


def test_a_running_sweep_is_reported_with_what_its_trials_reported_so_far(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    hook = create_plugin_manager(autoload=False).hook
    sweep = _sweep("running", uri)
    hook.sweepnet_sweep_start(sweep=sweep)
    finished = [_trial(hook, sweep, number)[1] for number in range(2)]
    _trial(hook, sweep, 2, end=False)  # still running, its epoch reported
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the writer flushes running trials every 2 s
            with contextlib.suppress(TrackingError):  # the parent run is not there yet
                entries = read_sweep("running", uri, histories=True).entries
                if len(entries) == 3 and entries[2][1].history:
                    break
            time.sleep(0.5)
        output = tmp_path / "running.html"
        assert main(["report", "running", "--tracking-uri", uri, "-o", str(output)]) == 0
        assert "(3 trials of running, running)" in capsys.readouterr().out
        text = " ".join(re.sub(r"<[^>]+>", " ", output.read_text()).split())
        assert "3 trials (1 running, 2 completed)" in text
        assert "Written while the sweep runs" in text
    finally:
        hook.sweepnet_sweep_end(sweep=sweep, results=finished)
