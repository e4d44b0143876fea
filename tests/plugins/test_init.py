"""The built-in plugin list, and the layering rule: the numeric core imports no plugin machinery."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import sweepnet.core
from sweepnet.pluginmanager import PluginManager
from sweepnet.plugins import DEFAULT_PLUGINS

FORBIDDEN_IN_CORE = ("ray", "mlflow", "optuna", "torch")


@pytest.mark.parametrize("module_name", DEFAULT_PLUGINS)
def test_every_default_plugin_is_a_module_with_valid_hooks(module_name):
    module = importlib.import_module(module_name)
    manager = PluginManager()
    manager.register_plugin(module, module_name, provider="sweepnet", version="test")
    assert manager.get_hookcallers(module), f"{module_name} implements no hook"


def test_the_core_imports_nothing_but_the_core():
    """Importing every module of sweepnet.core pulls in no other sweepnet module, nor Ray/MLflow/Optuna.

    Runs in a fresh interpreter, so modules imported by other tests do not count.
    """
    core_modules = [module.name for module in pkgutil.walk_packages(sweepnet.core.__path__, "sweepnet.core.")]
    assert "sweepnet.core.layers" in core_modules and "sweepnet.core.solver" in core_modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {core_modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    outside_core = [name for name in loaded if name.startswith("sweepnet.") and not name.startswith("sweepnet.core")]
    assert outside_core == [], "sweepnet.core must not import the rest of sweepnet"
    assert [name for name in loaded if name.split(".")[0] in FORBIDDEN_IN_CORE] == []
