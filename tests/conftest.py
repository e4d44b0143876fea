"""Shared fixtures of the test suite.

Entry-point plugins are NOT loaded automatically in tests (``SWEEPNET_DISABLE_PLUGIN_AUTOLOAD=1``
unless already set), so results do not depend on which plugin packages happen to be installed.
Tests of entry-point loading opt in explicitly (``create_plugin_manager(autoload=True)`` or the
``installed_plugin`` fixture).
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sweepnet.pluginmanager import AUTOLOAD_ENV, create_plugin_manager, get_plugin_manager, get_registries
from sweepnet.registry import Registries

os.environ.setdefault(AUTOLOAD_ENV, "1")


@pytest.fixture(scope="session", autouse=True)
def _tracking_store_outside_the_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point MLflow's default store at a temporary SQLite file, so no test writes ``./sweepnet-results``.

    Tests that care about the store set ``tracking.uri`` or ``$MLFLOW_TRACKING_URI`` themselves."""
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
        yield


@pytest.fixture(scope="session")
def builtin_registries() -> Registries:
    """Registries holding only the built-in plugins' components (do not add to them)."""
    return create_plugin_manager(autoload=False).build_registries()


@pytest.fixture
def fresh_plugin_state() -> Iterator[None]:
    """Forget the process-wide plugin manager and registries before and after the test."""
    get_plugin_manager.cache_clear()
    get_registries.cache_clear()
    yield
    get_plugin_manager.cache_clear()
    get_registries.cache_clear()


InstallPlugin = Callable[..., None]


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallPlugin]:
    """Factory that "installs" a small plugin distribution for the duration of the test.

    ``installed_plugin(dist, source, version="1.0", entry_point="plugin")`` writes the module
    ``source`` and a ``.dist-info`` declaring a ``sweepnet`` entry point for it into a directory
    on ``sys.path``, as pip would, so importlib.metadata and the plugin manager find it.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install(dist: str, source: str, *, version: str = "1.0", entry_point: str = "plugin") -> None:
        module = dist.replace("-", "_")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[sweepnet]\n{entry_point} = {module}\n")
        modules.append(module)
        importlib.invalidate_caches()

    yield install
    for module in modules:
        sys.modules.pop(module, None)
