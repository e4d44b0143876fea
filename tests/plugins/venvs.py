"""Throwaway virtual environments that see this environment's packages, for real pip installs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sweepnet.pluginmanager import AUTOLOAD_ENV

__all__ = ["env_with_autoload", "venv_seeing"]


def venv_seeing(venv: Path, site_dir: Path) -> str:
    """Create a venv at ``venv`` whose Python also sees the packages in ``site_dir`` (through a
    ``.pth`` file, so pip installs go into the venv itself); returns its python.

    (``--system-site-packages`` would expose the base interpreter's packages, not this venv's.)
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "sweepnet-env.pth").write_text(f"import site; site.addsitedir({str(site_dir)!r})\n")
    return python


def env_with_autoload(**extra: str) -> dict[str, str]:
    """This process's environment without the test suite's autoload switch (entry points load), plus ``extra``."""
    return {**{key: value for key, value in os.environ.items() if key != AUTOLOAD_ENV}, **extra}
