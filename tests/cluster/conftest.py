"""A real two-node Ray cluster on this machine, started with ``ray start`` and token authentication.

Each node is a ``ray start --block`` process in its own session and temp dir, so stopping one
(terminate, then kill what is left of its temp dir's processes) never touches another Ray
instance on the machine -- ``ray stop`` would stop every one of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

_RAY = str(Path(sys.executable).parent / "ray")
_COUNT_NODES = (
    "import ray; ray.init(address={address!r}, logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
)


@dataclass
class Node:
    """One ``ray start --block`` process and its temp dir."""

    process: subprocess.Popen
    temp_dir: str

    def stop(self) -> None:
        """Stop this node's processes (and only them)."""
        if self.process.poll() is None:
            self.process.terminate()  # `ray start --block` stops its node's processes on SIGTERM
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        _kill_processes_of(self.temp_dir)

    def crash(self) -> None:
        """SIGKILL every process of this node at once, as a machine failure would."""
        _kill_processes_of(self.temp_dir)

    def processes(self) -> list[psutil.Process]:
        """This node's Ray processes and their descendants (workers)."""
        return _processes_of(self.temp_dir)


@dataclass
class Cluster:
    """A running cluster: ``address`` to pass as ``--address``, ``env`` holding its token."""

    address: str
    env: dict[str, str]
    nodes: list[Node] = field(default_factory=list)


@pytest.fixture
def two_node_cluster() -> Iterator[Cluster]:
    """A head node and a second node, 1 CPU each (the second with its own custom resource)."""
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "SWEEPNET_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    port = _free_port()
    cluster = Cluster(f"127.0.0.1:{port}", env)
    try:
        cluster.nodes.append(_start(["--head", f"--port={port}", "--include-dashboard=false"], {"head": 1}, env))
        _wait_for_nodes(cluster, 1)
        cluster.nodes.append(_start([f"--address={cluster.address}"], {"second": 1}, env))
        _wait_for_nodes(cluster, 2)
        yield cluster
    finally:
        for node in reversed(cluster.nodes):
            node.stop()
            shutil.rmtree(node.temp_dir, ignore_errors=True)


def _start(args: list[str], resources: dict[str, float], env: dict[str, str]) -> Node:
    temp_dir = tempfile.mkdtemp(prefix="sweepnet-ray-")  # short: Ray's socket paths live under it
    command = [
        _RAY,
        "start",
        *args,
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        f"--resources={json.dumps(resources)}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
        "--block",
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    return Node(process, temp_dir)


def _wait_for_nodes(cluster: Cluster, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(node.process.poll() is not None for node in cluster.nodes):
            raise RuntimeError("a `ray start` process exited early")
        probe = subprocess.run(
            [sys.executable, "-c", _COUNT_NODES.format(address=cluster.address)],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if probe.returncode == 0 and probe.stdout.strip().splitlines()[-1] == str(count):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the cluster at {cluster.address} did not reach {count} nodes")


def _processes_of(temp_dir: str) -> list[psutil.Process]:
    roots = [p for p in psutil.process_iter(["cmdline"]) if any(temp_dir in arg for arg in p.info["cmdline"] or ())]
    found = set(roots)
    for root in roots:
        with contextlib.suppress(psutil.Error):  # it may have exited meanwhile
            found.update(root.children(recursive=True))
    return list(found)


def _kill_processes_of(temp_dir: str) -> None:
    processes = _processes_of(temp_dir)
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(processes, timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
