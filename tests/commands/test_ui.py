"""``sweepnet ui`` serves the MLflow UI on 127.0.0.1 over the sweeps' store and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from sweepnet.cli import main
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import SweepInfo


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_store_that_is_an_mlflow_server_is_its_own_ui(capsys):
    assert main(["ui", "--tracking-uri", "http://127.0.0.1:5999"]) == 0
    assert capsys.readouterr().out == "http://127.0.0.1:5999 is an MLflow server: its UI is at http://127.0.0.1:5999\n"


def test_no_store_yet_is_an_error_naming_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["ui"]) == 2
    assert capsys.readouterr().err == (
        "sweepnet: error: no tracking store at sweepnet-results/mlflow.db: run a sweep first, or pass --tracking-uri\n"
    )
    assert list(tmp_path.iterdir()) == []


def _store_with_a_sweep(tmp_path) -> str:
    """A SQLite store holding the empty sweep ``ui-demo``; returns its URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    hook = create_plugin_manager(autoload=False).hook
    sweep = SweepInfo("ui-demo", {"tracking": {"uri": uri}}, "name: ui-demo\n", "val_acc", "max")
    hook.sweepnet_sweep_start(sweep=sweep)
    hook.sweepnet_sweep_end(sweep=sweep, results=[])
    return uri


def test_an_unknown_sweep_is_an_error_before_anything_starts(tmp_path, capsys):
    uri = _store_with_a_sweep(tmp_path)
    assert main(["ui", "nothing", "--tracking-uri", uri]) == 2
    assert capsys.readouterr().err == f"sweepnet: error: no sweep named 'nothing' in tracking store {uri}\n"


def test_a_busy_port_is_an_error_naming_it(tmp_path, capsys):
    (tmp_path / "mlflow.db").touch()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        assert main(["ui", "--port", str(port), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]) == 2
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_serves_the_sweeps_store_until_stopped(tmp_path, stop):
    uri = _store_with_a_sweep(tmp_path)
    port = _free_port()
    command = [sys.executable, "-m", "sweepnet", "ui", "ui-demo", "--port", str(port), "--tracking-uri", uri]
    ui = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in ui.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=120) == f"MLflow UI for {uri}: http://127.0.0.1:{port}  (Ctrl-C to stop)\n"
        experiment = MlflowClient(uri).get_experiment_by_name("ui-demo").experiment_id
        runs = f"http://127.0.0.1:{port}/#/experiments/{experiment}?workflowType=machine_learning"
        assert lines.get(timeout=5) == f"  sweep ui-demo: {runs}\n"
        query = urllib.parse.urlencode({"experiment_name": "ui-demo"})
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?{query}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert json.load(answer)["experiment"]["name"] == "ui-demo"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            assert b"MLflow" in answer.read()

        ui.send_signal(stop)
        assert ui.wait(timeout=30) == 0
        assert lines.get(timeout=5) == "stopping the MLflow UI\n"
        with pytest.raises(ConnectionRefusedError):  # the server and its workers are gone
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait()
