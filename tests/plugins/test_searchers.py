"""The built-in searcher plugins, registered through the ``sweepnet_register_searchers`` hook."""

from __future__ import annotations

import pytest

from sweepnet.errors import ConfigError
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.registry import Registry
from sweepnet.search import GridSearcher, RandomSearcher, SearchSpace, TPESearcher


@pytest.fixture(scope="module")
def searchers() -> Registry:
    return create_plugin_manager(autoload=False).build_registries().searchers


def test_built_ins_are_registered_by_sweepnet(searchers: Registry) -> None:
    assert {name: searchers.get(name) for name in ("grid", "random", "tpe")} == {
        "grid": GridSearcher,
        "random": RandomSearcher,
        "tpe": TPESearcher,
    }
    assert all(component.provider == "sweepnet" and component.description for component in searchers)


def test_registered_searchers_are_called_as_documented(searchers: Registry) -> None:
    space = SearchSpace({"lr": {"grid": [0.1, 0.01]}})
    for component in searchers:
        searcher = component.obj(space, seed=0, metric="val_acc", mode="max")
        assert space.contains(searcher.ask())


def test_options_are_validated_through_the_component(searchers: Registry) -> None:
    assert searchers.component("grid").parse_options({"shuffle": False}, "search.options").shuffle is False
    with pytest.raises(ConfigError) as info:
        searchers.component("tpe").parse_options({"n_startup": 3}, "search.options")
    assert info.value.field == "search.options.n_startup"
