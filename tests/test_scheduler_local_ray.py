"""The local Ray instance of ``sweepnet sweep``: it listens on loopback only, it ends with the
driver however the driver ends, and Ctrl-C at any moment ends the command with one line.

Every test runs the real command in a process of its own, with trials slow enough to be caught
running, and looks at its processes with psutil.
"""

from __future__ import annotations

import http.client
import ipaddress
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="reads sockets with psutil on Linux"),
]

SWEEP = """\
name: loopback
data: {name: synthetic, options: {num_training: 20000, num_features: 200}}
model: {name: fc, hidden_dims: [512, 512]}
solver: {num_epochs: 50, batch_size: 50}
search: {searcher: random, num_samples: 4}
tracking: {enabled: false}
"""
_STARTUP_S = 180  # Ray's start on a loaded 2-core machine


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "loopback.yaml"
    path.write_text(SWEEP)
    return path


def _start(sweep_file: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sweepnet", "sweep", str(sweep_file), "--max-concurrent", "1", *options],
        cwd=sweep_file.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_a_running_trial(driver: subprocess.Popen[str]) -> list[psutil.Process]:
    """The driver's descendants once a trial worker runs (Ray's processes, and the watchdog)."""
    deadline = time.monotonic() + _STARTUP_S
    while time.monotonic() < deadline:
        assert driver.poll() is None, driver.communicate()
        descendants = psutil.Process(driver.pid).children(recursive=True)
        if any(_name(process).startswith("ray::_TrialWorker.run") for process in descendants):
            return descendants
        time.sleep(0.5)
    driver.kill()
    pytest.fail(f"no trial ran within {_STARTUP_S} s: {driver.communicate()}")


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


def _alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {process.name()}")
        except psutil.NoSuchProcess:
            pass
    return alive


def _alive_after(processes: list[psutil.Process], seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while _alive(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _alive(processes)


def _listening(process: psutil.Process) -> list[tuple[str, int]]:
    try:
        return [tuple(c.laddr) for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    except psutil.Error:  # ended meanwhile
        return []


def _http_status(port: int) -> int | None:
    """The HTTP status a GET without a token gets on ``port`` (None: not HTTP, e.g. gRPC)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError, http.client.HTTPException):
        return None


def _is_loopback(host: str) -> bool:
    address = ipaddress.ip_address(host)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


@pytest.mark.parametrize("dashboard", [False, True], ids=["plain", "dashboard"])
def test_every_listening_socket_of_a_local_sweep_is_on_loopback(sweep_file, dashboard):
    driver = _start(sweep_file, *(["--dashboard"] if dashboard else []))
    try:
        processes = [psutil.Process(driver.pid), *_wait_for_a_running_trial(driver)]
        time.sleep(3)  # the agents' and the dashboard's late servers
        processes += psutil.Process(driver.pid).children(recursive=True)
        sockets = {(process.pid, _name(process), address) for process in processes for address in _listening(process)}
        names = {name for _, name, _ in sockets}
        assert {"gcs_server", "raylet", "ray::DashboardAgent"} <= names, names  # what Ray runs was seen
        assert [socket for socket in sockets if not _is_loopback(socket[2][0])] == []
        agent_ports = [address[1] for _, name, address in sockets if name.endswith("Agent")]
        assert 401 in [_http_status(port) for port in agent_ports]  # token authentication stays on
    finally:
        driver.send_signal(signal.SIGINT)
        driver.communicate(timeout=120)


@pytest.mark.parametrize("ending", [signal.SIGKILL, signal.SIGTERM])
def test_the_ray_processes_end_with_the_driver(sweep_file, ending):
    driver = _start(sweep_file)
    processes = _wait_for_a_running_trial(driver)
    agents = [process for process in processes if _name(process).endswith("Agent")]
    assert agents  # the processes Ray itself leaves running for a minute
    driver.send_signal(ending)
    driver.communicate(timeout=60)
    assert _alive_after(processes, seconds=10) == []


@pytest.mark.parametrize("delay", [0.5, 2.0, 5.0, None], ids=["imports", "later-imports", "ray-start", "trials"])
def test_ctrl_c_at_any_moment_ends_with_one_line_and_no_ray_process(sweep_file, delay):
    driver = _start(sweep_file)
    if delay is None:
        _wait_for_a_running_trial(driver)
    else:
        time.sleep(delay)
    processes = psutil.Process(driver.pid).children(recursive=True)
    driver.send_signal(signal.SIGINT)
    out, err = driver.communicate(timeout=120)
    assert "Traceback" not in err and "Traceback" not in out
    # 130 from sweepnet; now and then, after an interrupt during the imports, the interpreter
    # still ends by SIGINT once main() printed its line and returned 130 (seen 4 times in 24 at
    # 0.3-0.4 s; cause not found): the shell reports both as an interrupt.
    assert driver.returncode in (130, -signal.SIGINT), (out, err)
    if delay is None:  # the sweep ends as it does on Ctrl-C: trials recorded as KILLED, the resume command
        assert "Interrupted; the running trials were recorded as KILLED" in out and err == ""
    else:
        assert err.splitlines() == ["sweepnet: interrupted"]
    assert _alive_after(processes, seconds=10) == []


def test_ctrl_c_while_importing_ray_is_one_line(tmp_path, sweep_file):
    """Deterministically: the interrupt arrives while the sweep command imports Ray."""
    script = textwrap.dedent(
        """
        import sys

        class Interrupt:
            def find_spec(self, name, path=None, target=None):
                if name == "ray":
                    raise KeyboardInterrupt

        sys.meta_path.insert(0, Interrupt())
        sys.argv = ["sweepnet", "sweep", sys.argv[1]]
        from sweepnet.cli import main
        sys.exit(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(sweep_file)], capture_output=True, text=True, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "sweepnet: interrupted\n")
