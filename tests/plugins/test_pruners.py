"""The built-in pruner plugins, registered through the ``sweepnet_register_pruners`` hook."""

from __future__ import annotations

import pytest

from sweepnet.errors import ConfigError
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.registry import Registry
from sweepnet.search import ASHAPruner, HyperbandPruner, MedianPruner, NoPruner


@pytest.fixture(scope="module")
def pruners() -> Registry:
    return create_plugin_manager(autoload=False).build_registries().pruners


def test_built_ins_are_registered_by_sweepnet(pruners: Registry) -> None:
    assert {component.name: component.obj for component in pruners} == {
        "none": NoPruner,
        "median": MedianPruner,
        "asha": ASHAPruner,
        "hyperband": HyperbandPruner,
    }
    assert all(component.provider == "sweepnet" and component.description for component in pruners)


def test_registered_pruners_are_called_as_documented(pruners: Registry) -> None:
    for component in pruners:
        pruner = component.obj(metric="val_acc", mode="max", max_epochs=9)
        assert pruner.report("t0", 1, 0.5) is False  # the first trial is never stopped at epoch 1


def test_options_are_validated_through_the_component(pruners: Registry) -> None:
    assert pruners.component("asha").parse_options({"grace_period": 2}, "pruner").grace_period == 2
    with pytest.raises(ConfigError) as info:
        pruners.component("asha").parse_options({"reduction_factor": 1}, "pruner")
    assert info.value.field == "pruner.reduction_factor"
