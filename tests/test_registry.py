"""Registries: add / get / listing, provenance, name clashes, unknown and unavailable names, option validation."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, PositiveInt

from sweepnet.errors import ConfigError, PluginError
from sweepnet.registry import (
    Component,
    Conflict,
    PluginOptions,
    Registries,
    Registry,
    UnavailableComponentError,
    UnknownComponentError,
    canonical_name,
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
        "layer", "gelu", Thing, "sweepnet-extras", "0.2.0", _Options, "A thing for tests.", ""
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


def test_a_name_offered_twice_stays_with_the_first_and_the_clash_is_recorded():
    registry = _layers("gelu")
    with registry.providing("sweepnet-extras", "0.1.0", "extras"):
        registry.add("gelu", Thing, description="the second gelu")
        registry.add("silu", Thing)
    first = registry.component("gelu")
    assert first.provider == "sweepnet" and registry.component("silu").provider == "sweepnet-extras"
    [conflict] = registry.conflicts
    assert (conflict.kept, conflict.skipped.description, conflict.preferred) == (first, "the second gelu", False)
    assert str(conflict) == (
        "layer 'gelu' of plugin 'extras' (sweepnet-extras 0.1.0) skipped: "
        "the name is taken by sweepnet 0.1.0, which registered it first"
    )


def test_a_preferred_provider_takes_the_name_whichever_came_first():
    registry = Registry("layer")
    builtin = Component("layer", "gelu", Thing, "sweepnet", "0.1.0", _Options, "built-in", "sweepnet.plugins.layers")
    extra = Component("layer", "gelu", Thing, "Sweepnet_Extras", "0.2", _Options, "extra", "extras")
    registry.include(builtin, prefer="sweepnet-extras")
    registry.include(extra, prefer="sweepnet-extras")  # names compare as pip does
    assert registry.component("gelu") is extra
    assert registry.conflicts == [Conflict(extra, builtin, preferred=True)]
    taken = "the name is taken by plugin 'extras' (Sweepnet_Extras 0.2), which is preferred"
    assert str(registry.conflicts[0]).endswith(taken)
    again = Registry("layer")
    again.include(builtin, prefer="sweepnet")
    again.include(extra, prefer="sweepnet")
    assert again.component("gelu") is builtin and again.conflicts == [Conflict(builtin, extra, preferred=True)]


def test_merge_adds_another_registrys_components_and_clashes():
    shared, own = _layers("relu"), Registry("layer")
    with own.providing("my-layers", "1.0", "mine"):
        own.add("relu", Thing)
        own.add("swish", Thing)
        own.add("swish", Thing)  # twice by the same plugin: recorded too
    shared.merge(own, {})
    assert shared.names() == ["relu", "swish"] and shared.component("relu").provider == "sweepnet"
    clashes = [(c.kept.name, c.skipped.provider) for c in shared.conflicts]
    assert clashes == [("swish", "my-layers"), ("relu", "my-layers")]
    preferred = _layers("relu")
    preferred.merge(own, {"relu": "my-layers"})
    assert preferred.component("relu").provider == "my-layers"


def test_a_name_of_a_broken_plugin_is_unavailable_naming_why():
    registry = _layers("relu")
    reason = "plugin 'x' (x-layers 1.0) failed: sweepnet_register_layers raised OSError: gone"
    registry.mark_unavailable("halfway", reason)
    registry.mark_unavailable("relu", "never shown: another plugin provides it")
    with pytest.raises(UnavailableComponentError) as err:
        registry.component("halfway")
    assert str(err.value) == f"layer 'halfway' is unavailable: {reason}"
    assert isinstance(err.value, UnknownComponentError)  # callers that name the config field still do
    assert registry.get("relu") is Thing
    with registry.providing("y-layers", "2.0"):
        registry.add("halfway", Thing)  # a later provider makes it available again
    assert registry.component("halfway").provider == "y-layers"


def test_an_unknown_name_mentions_the_plugins_that_failed_to_load():
    registry = _layers("relu")
    registry.broken_plugins = ["plugin 'b' (b-layers 0.3)", "plugin 'c' (c-layers 1.0)"]
    with pytest.raises(UnknownComponentError) as err:
        registry.component("swish")
    assert str(err.value) == (
        "unknown layer 'swish'; it may come from a plugin that failed to load: plugin 'b' (b-layers 0.3), "
        "plugin 'c' (c-layers 1.0) (available: relu)"
    )


def test_component_labels_name_the_plugin_and_distribution():
    component = Component("layer", "gelu", Thing, "sweepnet-extras", "0.1.0", None, "", "extras")
    assert component.label == "layer 'gelu' of plugin 'extras' (sweepnet-extras 0.1.0)"
    builtin = Component("layer", "relu", Thing, "sweepnet", "0.1.0", None, "", "sweepnet.plugins.layers")
    assert builtin.label == "layer 'relu' of sweepnet 0.1.0"
    assert Component("layer", "x", Thing, "unknown", "", None, "").origin == "unknown"


def test_canonical_names_compare_as_pip_does():
    assert canonical_name("Sweepnet_Extras") == canonical_name("sweepnet.extras") == "sweepnet-extras"


def test_plugin_options_refuse_unknown_keys():
    class Options(PluginOptions):
        units: PositiveInt = 1

    registry = Registry("layer")
    registry.add("wide", Thing, options=Options)  # accepted: extra="forbid" is inherited
    with pytest.raises(ConfigError, match=r"model.layers\[0\].unit: unknown key"):
        registry.component("wide").parse_options({"unit": 3}, "model.layers[0]")


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


def test_validate_options_reports_the_first_of_several_errors_in_one_line():
    with pytest.raises(ConfigError) as err:
        validate_options(_Options, {"units": 0, "scale": "big"}, "model")
    assert str(err.value) == "model.units: Input should be greater than 0, got 0"


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
    assert str(err.value) == "model.layers[1].unit: unknown key; did you mean 'units'? (expected one of: units, scale)"
    with pytest.raises(ConfigError, match=r"^model.layers\[1\].units: required$"):
        validate_options(_Options, {}, "model.layers[1]")
