"""Real stores for the tests: an ``mlflow server`` process, and a PostgreSQL server for its backend.

PostgreSQL is Debian's (``apt-get install postgresql``; ``.ci/run`` installs it): each test
cluster gets its own data directory, listens on 127.0.0.1 only, and is stopped afterwards. As
root (CI), the cluster runs as ``nobody``: PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout:g} s: {log.read_text()[-2000:]}")


class MlflowServer:
    """An ``mlflow server`` on 127.0.0.1 over ``backend`` with artifacts in ``folder``; restartable."""

    def __init__(self, folder: Path, backend: str | None = None, workers: int = 1) -> None:
        self.folder, self.port, self.workers = folder, free_port(), workers
        self.backend = backend or f"sqlite:///{folder / 'mlflow.db'}"
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(self.workers), "--backend-store-uri", self.backend,
            "--artifacts-destination", str(self.folder / "artifacts"),
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        log = self.folder / "server.log"
        self.process = subprocess.Popen(
            command, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        _wait_for_port(self.port, self.process, log)

    def kill(self) -> None:
        """SIGKILL the server and its workers (its own process group), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def _postgres_bin() -> Path | None:
    for initdb in [shutil.which("initdb"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]:
        if initdb and (Path(initdb).parent / "postgres").exists():
            return Path(initdb).resolve().parent
    return None


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1 with an empty database; yields its SQLAlchemy URI.

    Skips the test, with the reason, where PostgreSQL or its Python driver is missing.
    """
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
    psycopg2 = pytest.importorskip("psycopg2", reason="psycopg2 is missing (the test extra installs psycopg2-binary)")
    user = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
    home = Path(tempfile.mkdtemp(prefix="sweepnet-postgres-"))  # not under pytest's root-only folder
    data, sockets = home / "data", home / "sockets"
    sockets.mkdir()
    as_user = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    if user:
        for path in (home, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = free_port()
    log = home / "postgres.log"
    process = None
    try:
        subprocess.run(
            [binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, cwd=home, **as_user,
        )  # fmt: skip
        process = subprocess.Popen(
            [binaries / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port), "-k", sockets,
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=200"],
            stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=home, start_new_session=True, **as_user,
        )  # fmt: skip
        _wait_for_port(port, process, log)
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:  # starting up
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE mlflow")
        connection.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(home, ignore_errors=True)
