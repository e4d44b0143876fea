"""A watchdog process that ends a local Ray instance when the driver that started it dies.

Ray ends the processes a driver starts itself (the GCS server and the raylet, through
``PR_SET_PDEATHSIG``), but not all of theirs: after a SIGKILL of the driver, the dashboard and
runtime-env agents notice their raylet is gone within seconds, then wait about a minute on a
GCS server that no longer answers, still listening on their ports. The watchdog closes that gap.

:func:`start` spawns it with a pipe from the driver on its stdin: the kernel closes the pipe
when the driver ends, however it ends (SIGKILL included), and the watchdog then kills every Ray
process that appeared below the driver while it watched (the driver's other children are left
alone). It holds no reference to Ray itself, so it costs a Python interpreter with psutil:
a few MB, and a scan of the driver's descendants a few times a second.

Run as ``python -m sweepnet.reaper DRIVER_PID RAY_DIR OLDER_PIDS`` by :func:`start`, never by hand.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path

import psutil

__all__ = ["start", "watch"]

_FAST_POLL_S = 0.1  # while Ray starts its processes
_SLOW_POLL_S = 1.0  # afterwards: trial workers die with their raylet anyway
_FAST_PERIOD_S = 60.0


def start(ray_dir: str | os.PathLike[str]) -> subprocess.Popen[bytes]:
    """Spawn the watchdog of this process's Ray instance; call it before ``ray.init``.

    Parameters
    ----------
    ray_dir : the installed ``ray`` package: processes running its programs (``raylet``,
        ``gcs_server``, the agents' scripts) or named ``ray::...`` are Ray's.

    Returns
    -------
    The watchdog process. Its stdin is this process's end of the pipe: keep the object (the
    pipe closes when it is garbage collected), and do not write to it.
    """
    # Listed here, not by the watchdog, which may start after Ray's first processes.
    older = ",".join(str(child.pid) for child in _descendants(psutil.Process()))
    return subprocess.Popen(
        [sys.executable, "-m", "sweepnet.reaper", str(os.getpid()), str(Path(ray_dir).resolve()), older],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the terminal is for the driver, not for the watchdog
    )


def watch(driver_pid: int, ray_dir: str, older: Collection[int] = (), stdin_fd: int = 0) -> list[int]:
    """Track the Ray processes below ``driver_pid`` until ``stdin_fd`` reaches end of file (or the
    driver is gone), then kill those still running; returns their pids.

    Parameters
    ----------
    driver_pid : the process whose Ray instance is watched.
    ray_dir : the ``ray`` package directory (see :func:`start`).
    older : the driver's descendants from before the watch: whatever they run, not Ray's.
    stdin_fd : the read end of the driver's pipe.
    """
    driver = psutil.Process(driver_pid)
    mine = os.getpid()
    tracked: dict[int, psutil.Process] = {}
    started = time.monotonic()
    while driver.is_running():
        timeout = _FAST_POLL_S if time.monotonic() - started < _FAST_PERIOD_S else _SLOW_POLL_S
        readable, _, _ = select.select([stdin_fd], [], [], timeout)
        if readable and not os.read(stdin_fd, 4096):
            break  # end of file: the driver has ended
        tracked = {pid: process for pid, process in tracked.items() if process.is_running()}
        for process in _descendants(driver):
            new = process.pid not in tracked and process.pid not in older and process.pid != mine
            if new and _is_ray(process, ray_dir):
                tracked[process.pid] = process
    killed = []
    for process in tracked.values():
        try:
            process.kill()  # psutil checks that the pid still names the same process
            killed.append(process.pid)
        except psutil.Error:
            pass
    return killed


def _descendants(driver: psutil.Process) -> list[psutil.Process]:
    try:
        return driver.children(recursive=True)
    except psutil.Error:
        return []


def _is_ray(process: psutil.Process, ray_dir: str) -> bool:
    try:
        name = process.name()
        command = process.cmdline()
    except psutil.Error:
        return False
    return name.startswith("ray::") or any(ray_dir in argument for argument in command)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(sys.argv[1]), sys.argv[2], {int(pid) for pid in sys.argv[3].split(",") if pid})
