"""The built-in optimizer plugins: every core update rule, with an options model matching its defaults."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core.optim import UPDATE_RULES
from sweepnet.errors import ConfigError
from sweepnet.plugins.optimizers import sweepnet_register_optimizers
from sweepnet.registry import Registry
from sweepnet.testing import check_optimizer

REGISTRY = Registry("optimizer")
sweepnet_register_optimizers(REGISTRY)


def test_every_core_update_rule_is_registered_as_itself():
    assert set(REGISTRY.names()) == set(UPDATE_RULES)
    for name, rule in UPDATE_RULES.items():
        assert REGISTRY.get(name) is rule


@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_options_defaults_are_the_rules_own_defaults(name):
    component = REGISTRY.component(name)
    _, filled_in = component.obj(np.zeros(3), np.zeros(3), None)
    defaults = component.options().model_dump()
    assert defaults == {key: filled_in[key] for key in defaults}
    hyperparameters = {key for key, value in filled_in.items() if isinstance(value, float)}
    assert hyperparameters == set(defaults), "every hyperparameter is a config key and nothing else"


@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_every_rule_passes_the_conformance_kit(name):
    check_optimizer(REGISTRY.get(name), {"learning_rate": 1e-2})


@pytest.mark.parametrize(
    ("name", "config", "field"),
    [
        ("sgd", {"learning_rate": -1.0}, "solver.optim_config.learning_rate"),
        ("sgd_momentum", {"momentum": 1.0}, "solver.optim_config.momentum"),
        ("adam", {"beta2": 1.5}, "solver.optim_config.beta2"),
        ("rmsprop", {"learning_rate": 1e-3, "decay": 0.9}, "solver.optim_config.decay"),
    ],
)
def test_bad_config_keys_are_config_errors_naming_the_key(name, config, field):
    with pytest.raises(ConfigError) as err:
        REGISTRY.component(name).parse_options(config, "solver.optim_config")
    assert err.value.field == field
