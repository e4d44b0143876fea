"""Fixtures of the tracking tests."""

from __future__ import annotations

import pytest

from sweepnet.pluginmanager import create_plugin_manager


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One SQLite store for the module (creating its tables takes a second); tests use their own sweep names."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


@pytest.fixture
def manager():
    return create_plugin_manager(autoload=False)


@pytest.fixture
def hook(manager):
    return manager.hook
