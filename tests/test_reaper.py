"""The watchdog that ends a local Ray instance's processes with the driver that started them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

# A stand-in driver: starts the watchdog, then two long-lived children, one running a program of
# a (fake) Ray package directory, one not; prints their pids and waits to be killed.
_DRIVER = textwrap.dedent(
    """
    import json, subprocess, sys, time
    from sweepnet import reaper

    ray_dir = sys.argv[1]
    watchdog = reaper.start(ray_dir)  # at once: the watchdog may still be starting when they come
    sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
    ray_like = subprocess.Popen([*sleep, f"{ray_dir}/core/src/ray/raylet/raylet"], start_new_session=True)
    other = subprocess.Popen([*sleep, "not-ray"], start_new_session=True)
    time.sleep(2.0)  # a few polls of the watchdog, once it runs
    print(json.dumps([watchdog.pid, ray_like.pid, other.pid]), flush=True)
    time.sleep(600)
    """
)


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("ending", [signal.SIGKILL, signal.SIGTERM])
def test_the_ray_processes_of_a_dead_driver_are_killed_and_the_others_left_alone(tmp_path, ending):
    ray_dir = tmp_path / "site-packages" / "ray"
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(ray_dir)], stdout=subprocess.PIPE, text=True)
    watchdog, ray_like, other = json.loads(driver.stdout.readline())
    try:
        assert psutil.Process(ray_like).is_running() and psutil.Process(other).is_running()
        os.kill(driver.pid, ending)
        driver.wait()
        assert _gone(ray_like, within=5)
        assert _gone(watchdog, within=5)
        assert not _gone(other, within=0.5)
    finally:
        for pid in (ray_like, other):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_the_watchdog_ignores_ctrl_c_in_the_terminal(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    watchdog, ray_like, other = json.loads(driver.stdout.readline())
    try:
        assert os.getpgid(watchdog) != os.getpgid(driver.pid)  # not in the terminal's foreground group
        os.kill(watchdog, signal.SIGINT)
        assert not _gone(watchdog, within=0.5)
    finally:
        driver.kill()
        driver.wait()
        for pid in (ray_like, other):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert _gone(watchdog, within=5)
