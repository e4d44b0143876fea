"""``sweepnet ui``: browse the recorded sweeps in the MLflow UI.

::

    sweepnet ui                                   # http://127.0.0.1:5000 over sqlite:///sweepnet-results/mlflow.db
    sweepnet ui digits-mlp                        # ... and the link that opens that sweep's runs
    sweepnet ui --port 5001 --tracking-uri sqlite:///elsewhere/mlflow.db

Starts ``mlflow server`` on 127.0.0.1 against the same store the sweeps write to (see
:mod:`sweepnet.tracking`), prints its URL once it answers, and stops it on Ctrl-C. A store that
is already an MLflow server (``http://...``) is its own UI: its URL is printed and nothing starts.

Then the link to open: the sweep's experiment (or the list of experiments), with
``?workflowType=machine_learning`` -- MLflow 3's UI opens a fresh browser in its GenAI mode,
which shows no runs; the parameter opens the runs table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import IO

from sweepnet.errors import SweepnetError

__all__ = ["register", "run"]

_HOST = "127.0.0.1"  # the UI is for this machine only; a team server is `mlflow server` itself
_STARTUP_TIMEOUT = 90.0  # seconds; a cold start imports MLflow and migrates the database
_RUNS_VIEW = "workflowType=machine_learning"  # MLflow 3's UI: the runs, not the GenAI view it opens on


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ui`` subcommand."""
    parser = subparsers.add_parser(
        "ui",
        help="browse the recorded sweeps in the MLflow UI",
        description="Start the MLflow UI on 127.0.0.1 against the tracking store the sweeps write to; Ctrl-C stops it.",
    )
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI to browse (default: $MLFLOW_TRACKING_URI, then sqlite:///sweepnet-results/mlflow.db)",
    )
    parser.add_argument(
        "sweep", nargs="?", metavar="SWEEP", help="a sweep whose runs to link to (default: the list of sweeps)"
    )
    parser.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 to serve the UI on (default: 5000)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve the UI until Ctrl-C; returns the exit status."""
    from sweepnet.tracking import resolve_tracking_uri, sqlite_path, sweep_experiment

    uri = resolve_tracking_uri(args.tracking_uri)
    if uri.startswith(("http://", "https://")):
        print(f"{uri} is an MLflow server: its UI is at {uri}")
        if args.sweep is not None:
            print(_link(uri, args.sweep, sweep_experiment(args.sweep, uri)))
        return 0
    database = sqlite_path(uri)
    if database is not None and not database.is_file():
        raise SweepnetError(f"no tracking store at {database}: run a sweep first, or pass --tracking-uri")
    experiment = sweep_experiment(args.sweep, uri) if args.sweep is not None else None  # unknown: fail now
    _check_port_free(args.port)
    previous = {number: signal.signal(number, _interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:  # `kill` or a closed terminal stops the server as Ctrl-C does
        return _serve(uri, args.port, args.sweep, experiment)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _link(ui: str, sweep: str | None, experiment_id: str | None) -> str:
    """The line naming the page of the UI at ``ui`` that lists ``sweep``'s runs (None: the sweeps)."""
    if sweep is None:
        return f"the sweeps: {ui}/#/experiments?{_RUNS_VIEW}"
    return f"sweep {sweep}: {ui}/#/experiments/{experiment_id}?{_RUNS_VIEW}"


def _serve(uri: str, port: int, sweep: str | None, experiment_id: str | None) -> int:
    """Run ``mlflow server`` on ``port`` until Ctrl-C, then stop it and its workers; prints the link
    to ``sweep``'s runs (experiment ``experiment_id``) once it serves."""
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            _server_command(uri, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ},  # no GenAI job workers
            start_new_session=True,  # Ctrl-C reaches only us; we stop the server's whole group
        )
        try:
            url = _wait_until_serving(server, port)
            print(f"MLflow UI for {uri}: {url}  (Ctrl-C to stop)", flush=True)
            print(f"  {_link(url, sweep, experiment_id)}", flush=True)
            server.wait()
            raise SweepnetError(f"the MLflow server stopped (exit {server.returncode}): {_last_line(log)}")
        except KeyboardInterrupt:
            print("stopping the MLflow UI", flush=True)
            return 0
        except TimeoutError as err:
            raise SweepnetError(f"{err}: {_last_line(log)}") from None
        finally:
            _stop(server)


def _server_command(uri: str, port: int) -> list[str]:
    """The ``mlflow server`` command line serving store ``uri`` on 127.0.0.1:``port``."""
    return [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
        "--host", _HOST, "--port", str(port), "--workers", "1",
    ]  # fmt: skip


def _wait_until_serving(server: subprocess.Popen, port: int, timeout: float = _STARTUP_TIMEOUT) -> str:
    """Poll the server's ``/health`` until it answers; returns its URL.

    Raises
    ------
    TimeoutError
        when it exits first or does not answer within ``timeout`` seconds.
    """
    url = f"http://{_HOST}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise TimeoutError(f"the MLflow server exited with status {server.returncode} before serving")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return url
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    raise TimeoutError(f"the MLflow server did not answer on {url} within {timeout:g} s")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _check_port_free(port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((_HOST, port))
        except OSError:
            message = f"port {port} on {_HOST} is in use (another MLflow UI?); choose one with --port"
            raise SweepnetError(message) from None


def _stop(server: subprocess.Popen) -> None:
    """Stop the server and its workers: SIGTERM to its process group, then SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # a worker still shutting down, or a hung server
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def _last_line(log: IO[bytes]) -> str:
    """The last line the server wrote (its error, usually)."""
    log.seek(0)
    lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
