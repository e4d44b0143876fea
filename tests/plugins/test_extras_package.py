"""The example plugin packages under plugins/: their own tests, and a real install / uninstall."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .venvs import env_with_autoload, venv_seeing

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = ROOT / "plugins" / "sweepnet-extras"
PACKAGES = sorted(path for path in (ROOT / "plugins").iterdir() if (path / "pyproject.toml").exists())


@pytest.mark.parametrize("package", PACKAGES, ids=lambda path: path.name)
def test_each_plugin_package_passes_its_own_tests(package):
    """scripts/test installs every plugins/*/ package; their tests run here, in their own pytest session."""
    module = package.name.replace("-", "_")
    pytest.importorskip(module, reason=f"install it first: pip install -e plugins/{package.name}")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=package,
        env=env_with_autoload(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


_PROBE = """
import json
import numpy as np
from sweepnet.data import DatasetMeta
from sweepnet.errors import ConfigError
from sweepnet.pluginmanager import get_registries

sequential = get_registries().models.component("sequential")
options = sequential.parse_options(
    {"layers": [{"name": "affine", "units": 8}, "gelu", {"name": "affine", "units": 3}]}, "model"
)
try:
    net = sequential.obj().build(options, DatasetMeta("toy", "classification", (4,), num_classes=3), seed=0)
except ConfigError as err:
    print(json.dumps({"error": str(err)}))
else:
    print(json.dumps({"layer": type(net.layers[1][1]).__qualname__, "scores": net.loss(np.ones((2, 4))).shape}))
"""


def _site_without_extras(tmp_path: Path) -> Path:
    """A view of this environment's site-packages without sweepnet-extras (one symlink per entry)."""
    view = tmp_path / "site-view"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "sweepnet_extras" not in entry.name:
            (view / entry.name).symlink_to(entry)
    return view


@pytest.mark.slow
def test_pip_install_makes_the_layers_usable_by_name_and_uninstall_removes_them(tmp_path):
    """A fresh venv sees sweepnet and its dependencies through a .pth file but not sweepnet-extras;
    ``pip install ./plugins/sweepnet-extras`` (no index, no build isolation: offline) then adds
    ``gelu`` to a sequential model without touching sweepnet, and ``pip uninstall`` takes it away.
    """
    python = venv_seeing(tmp_path / "venv", _site_without_extras(tmp_path))

    def run(*args: str) -> str:
        result = subprocess.run([python, *args], env=env_with_autoload(), capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def probe() -> dict:
        return json.loads(run("-c", _PROBE).strip().splitlines()[-1])

    assert probe()["error"].startswith("model.layers[1].name: unknown layer 'gelu'")

    source = tmp_path / "sweepnet-extras"  # a copy, so the build leaves no files in the checkout
    shutil.copytree(EXTRAS, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".*"))
    run("-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation", str(source))
    assert probe() == {"layer": "Gelu", "scores": [2, 3]}
    listing = run("-m", "sweepnet", "plugins")
    assert "gelu" in listing and "sweepnet-extras" in listing

    run("-m", "pip", "uninstall", "--quiet", "--yes", "sweepnet-extras")
    assert probe()["error"].startswith("model.layers[1].name: unknown layer 'gelu'")
