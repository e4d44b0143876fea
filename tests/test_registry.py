"""Registries: add / get / listing, provenance, duplicate and unknown names, option validation."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, PositiveInt

from sweepnet.errors import ConfigError, PluginError
from sweepnet.registry import (
    Component,
    DuplicateComponentError,
    Registries,
    Registry,
    UnknownComponentError,
    validate_options,
)


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    units: PositiveInt
    scale: float = 1.0


class Thing:
    """A thing for tests.

    More text that is not part of the description.
    """

    Options = _Options


def _layers(*names: str) -> Registry:
    registry = Registry("layer")
    with registry.providing("sweepnet", "0.1.0"):
        for name in names:
            registry.add(name, Thing)
    return registry


def test_add_get_and_list():
    registry = _layers("relu", "affine", "conv")
    assert registry.get("relu") is Thing
    assert registry.names() == ["affine", "conv", "relu"]
    assert [component.name for component in registry] == ["affine", "conv", "relu"]
    assert len(registry) == 3 and "conv" in registry and "gelu" not in registry


def test_component_records_provider_version_options_and_description():
    registry = _layers()
    with registry.providing("sweepnet-extras", "0.2.0"):
        registry.add("gelu", Thing)
    registry.add("mystery", Thing, description="registered outside any plugin")
    assert registry.component("gelu") == Component(
        "layer", "gelu", Thing, "sweepnet-extras", "0.2.0", _Options, "A thing for tests."
    )
    mystery = registry.component("mystery")
    assert (mystery.provider, mystery.version, mystery.description) == ("unknown", "", "registered outside any plugin")


def test_explicit_options_win_and_objects_without_options_have_none():
    registry = Registry("optimizer")

    def sgd(w, dw, config=None):
        return w, config

    registry.add("sgd", sgd, options=_Options)
    registry.add("plain", lambda w, dw, config=None: (w, config))
    assert registry.component("sgd").options is _Options
    assert registry.component("plain").options is None


def test_duplicate_name_names_both_providers():
    registry = _layers("gelu")
    with registry.providing("sweepnet-extras", "0.1.0"), pytest.raises(DuplicateComponentError) as err:
        registry.add("gelu", Thing)
    assert str(err.value) == "layer 'gelu' is registered twice: by sweepnet 0.1.0 and by sweepnet-extras 0.1.0"
    assert isinstance(err.value, PluginError)


def test_unknown_name_lists_the_available_ones_and_the_closest():
    registry = _layers("gelu", "relu", "conv")
    with pytest.raises(UnknownComponentError) as err:
        registry.get("gleu")
    assert str(err.value) == "unknown layer 'gleu'; did you mean 'gelu'? (available: conv, gelu, relu)"
    assert (err.value.suggestion, err.value.available) == ("gelu", ["conv", "gelu", "relu"])


def test_unknown_name_without_a_close_match():
    with pytest.raises(UnknownComponentError, match=r"^unknown layer 'transformer' \(available: conv\)$"):
        _layers("conv").component("transformer")
    with pytest.raises(UnknownComponentError, match=r"\(available: none\)$"):
        Registry("pruner").get("median")


@pytest.mark.parametrize("name", ["", "two words", "1x1", "relu!", None])
def test_invalid_names_are_rejected_naming_the_provider(name):
    registry = Registry("layer")
    invalid_message = r"my-plugin 1\.0 registered an invalid"
    with registry.providing("my-plugin", "1.0"), pytest.raises(PluginError, match=invalid_message):
        registry.add(name, Thing)


def test_options_must_forbid_unknown_keys():
    class Lenient(BaseModel):
        units: int = 1

    registry = Registry("layer")
    forbid_message = r"'wide' of my-plugin 1\.0.*extra='forbid'"
    with registry.providing("my-plugin", "1.0"), pytest.raises(PluginError, match=forbid_message):
        registry.add("wide", Thing, options=Lenient)
    with pytest.raises(PluginError, match="options model"):
        registry.add("odd", Thing, options=dict)


def test_providing_restores_the_previous_provider_even_on_error():
    registry = Registry("layer")
    with pytest.raises(RuntimeError), registry.providing("a", "1"):
        raise RuntimeError
    registry.add("x", Thing)
    assert registry.component("x").provider == "unknown"


def test_registries_hold_one_registry_per_kind():
    registries = Registries()
    assert [(field, registry.kind) for field, registry in registries.items()] == [
        ("layers", "layer"),
        ("optimizers", "optimizer"),
        ("datasets", "dataset"),
        ("models", "model"),
        ("searchers", "searcher"),
        ("pruners", "pruner"),
    ]
    assert Registries().layers is not registries.layers


def test_parse_options_validates_and_names_the_dotted_field():
    component = _layers("affine").component("affine")
    assert component.parse_options({"units": 3}, "model.layers[0]") == _Options(units=3)
    with pytest.raises(ConfigError) as err:
        component.parse_options({"units": "many"}, "model.layers[2]")
    assert err.value.field == "model.layers[2].units"
    assert "valid integer" in err.value.reason and "'many'" in err.value.reason
    with pytest.raises(ConfigError, match=r"^model.layers\[2\].colour: unknown key \(expected one of: units, scale\)$"):
        component.parse_options({"units": 3, "colour": "red"}, "model.layers[2]")


def test_parse_options_of_a_component_without_options():
    registry = Registry("optimizer")
    registry.add("plain", lambda w, dw, config=None: (w, config))
    component = registry.component("plain")
    assert component.parse_options({}, "solver.optim_config") is None
    with pytest.raises(ConfigError, match=r"^solver.optim_config.momentum: optimizer 'plain' takes no options$"):
        component.parse_options({"momentum": 0.9}, "solver.optim_config")


def test_validate_options_reports_one_line_with_the_count_of_further_errors():
    with pytest.raises(ConfigError) as err:
        validate_options(_Options, {"units": 0, "scale": "big"}, "model")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("model.units: Input should be greater than 0, got 0")
    assert message.endswith("(and 1 more error)")


def test_validate_options_names_list_items_with_brackets():
    class Dims(BaseModel):
        model_config = ConfigDict(extra="forbid")
        hidden_dims: list[PositiveInt]

    with pytest.raises(ConfigError) as err:
        validate_options(Dims, {"hidden_dims": [10, -1]}, "model")
    assert err.value.field == "model.hidden_dims[1]"


def test_a_misspelt_key_is_named_before_the_required_key_it_leaves_missing():
    with pytest.raises(ConfigError) as err:
        validate_options(_Options, {"unit": 3}, "model.layers[1]")
    assert str(err.value) == "model.layers[1].unit: unknown key (expected one of: units, scale) (and 1 more error)"
    with pytest.raises(ConfigError, match=r"^model.layers\[1\].units: required$"):
        validate_options(_Options, {}, "model.layers[1]")
