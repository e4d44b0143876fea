"""Headless Chromium browses a finished sweep in the MLflow UI that ``sweepnet ui`` serves.

Uses Debian's ``chromium`` and its own headless CLI (``--dump-dom`` after the page's scripts ran,
``--screenshot``); the screenshots of the runs table and of a trial's metric charts are kept in
``test-artifacts/`` for a human to look at.
"""

from __future__ import annotations

import html
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SWEEP = "browser-demo"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium; .ci/run does)"),
]


def _record_sweep(uri: str) -> None:
    """Three trials of sweep ``browser-demo``, through the lifecycle hooks."""
    hook = create_plugin_manager(autoload=False).hook
    sweep = SweepInfo(SWEEP, {"tracking": {"uri": uri}}, f"name: {SWEEP}\n", "val_acc", "max")
    hook.sweepnet_sweep_start(sweep=sweep)
    results = []
    for number in range(3):
        spec = TrialSpec(f"{number:02d}" + "ab" * 19, number, {"solver.lr": 10.0 ** -(number + 1)}, {}, seed=number)
        hook.sweepnet_trial_start(sweep=sweep, trial=spec)
        history = [
            {"epoch": e, "loss": 1 / e, "train_acc": 0.3 * e, "val_acc": 0.25 * e + number / 20} for e in (1, 2, 3)
        ]
        for row in history:
            hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=row["epoch"], metrics=row)
        metrics = {"val_acc": history[-1]["val_acc"], "test_acc": 0.7}
        weights = {"W1": np.random.default_rng(number).random((64, 9))}
        result = TrialResult(spec.trial_id, TrialState.COMPLETED, metrics, history, 1.0, weights)
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
        results.append(result)
    hook.sweepnet_sweep_end(sweep=sweep, results=results)


@pytest.fixture
def ui(tmp_path):
    """``sweepnet ui`` serving a store with a finished sweep; yields (base URL, store URI). Stopped with Ctrl-C."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _record_sweep(uri)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "sweepnet", "ui", "--port", str(port), "--tracking-uri", uri]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        assert f"http://127.0.0.1:{port}" in lines.get(timeout=120)
        yield f"http://127.0.0.1:{port}", uri
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _chromium(url: str, profile: Path, action: str, window: str = "1400,900") -> str:
    """Load ``url`` headless in a ``window`` (``"width,height"``), let its scripts and requests
    settle, then ``action`` (``--dump-dom`` or ``--screenshot=<file>``); returns what Chromium printed."""
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--window-size={window}", "--virtual-time-budget=30000", action, url,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True).stdout


def _dom(url: str, profile: Path) -> str:
    """The page at ``url`` as rendered (scripts run), scripts and styles removed."""
    return re.sub(r"<(script|style)\b.*?</\1>", " ", _chromium(url, profile, "--dump-dom"), flags=re.S)


def _text(dom: str) -> str:
    """The visible text of a rendered page."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


def _screenshot(url: str, profile: Path, name: str) -> Path:
    """A screenshot of ``url`` kept in ``test-artifacts/`` for a human to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    _chromium(url, profile, f"--screenshot={path}")
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 20_000
    return path


def test_the_sweep_opens_on_its_runs_and_a_trial_shows_its_metric_charts(ui, tmp_path):
    base, uri = ui
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(SWEEP)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the classic runs view
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [run for run in runs if run.data.tags["sweepnet.kind"] == "sweep"]
    children = sorted(run.info.run_name for run in runs if run.data.tags["sweepnet.kind"] == "trial")
    assert children == ["trial-000-00ababab", "trial-001-01ababab", "trial-002-02ababab"]
    profile = tmp_path / "profile"

    listing = _text(_dom(f"{base}/#/experiments", profile))
    assert SWEEP in listing

    # MLflow 3.17's UI follows its GenAI / Model training switch (URL or browser storage) over the tag
    training = "workflowType=machine_learning"
    experiment_page = _text(_dom(f"{base}/#/experiments/{experiment.experiment_id}?{training}", profile))
    assert parent.info.run_name in experiment_page and "4 matching runs" in experiment_page

    # sorted by a metric, the runs table lists every trial next to its sweep
    order = urllib.parse.urlencode({"orderByKey": "metrics.`final/val_acc`", "orderByAsc": "false"})
    runs_page = f"{base}/#/experiments/{experiment.experiment_id}/runs?{order}&{training}"
    listed = _text(_dom(runs_page, profile))
    assert all(name in listed for name in [parent.info.run_name, *children])
    _screenshot(runs_page, profile, "mlflow-ui-sweep-runs.png")

    best_child = next(run for run in runs if run.info.run_name == children[-1])
    run_page = f"{base}/#/experiments/{experiment.experiment_id}/runs/{best_child.info.run_id}"
    overview = _text(_dom(f"{run_page}?{training}", profile))
    assert f"Parent run {parent.info.run_name}" in overview
    assert "solver.lr 0.001" in overview and "final/val_acc" in overview and "sweepnet.state : COMPLETED" in overview
    charts_page = f"{run_page}/model-metrics?{training}"
    charts = _dom(charts_page, profile)
    assert "js-plotly-plot" in charts or "main-svg" in charts, "no metric chart was drawn"
    assert all(metric in _text(charts) for metric in ("loss", "val_acc", "train_acc"))
    _screenshot(charts_page, profile, "mlflow-ui-trial-metric-charts.png")
