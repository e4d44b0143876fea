"""docs/plugins.md: its built-in component list is current, its examples work, its messages are real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sweepnet import __version__
from sweepnet.commands.plugins import components_markdown
from sweepnet.conformance import check_component
from sweepnet.plan import plan_from_text
from sweepnet.pluginmanager import AUTOLOAD_ENV, PREFER_ENV, PluginManager, get_registries
from sweepnet.records import TrialState
from sweepnet.registry import Component, Conflict
from sweepnet.trial import run_trial

DOC = Path(__file__).parents[1] / "docs" / "plugins.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
CORPUS = Path(__file__).parent / "plugins" / "corpus"


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text()) if lang == language]


def test_the_built_in_component_list_is_what_the_registries_hold(builtin_registries):
    text = DOC.read_text()
    listed = text.split("<!-- built-in components: begin -->\n")[1].split("<!-- built-in components: end -->")[0]
    assert listed == components_markdown(builtin_registries), (
        "regenerate it: SWEEPNET_DISABLE_PLUGIN_AUTOLOAD=1 sweepnet plugins --markdown"
    )


def test_the_layer_example_passes_the_kit_and_trains_in_a_sweep(installed_plugin, fresh_plugin_state, monkeypatch):
    (source,) = [block for block in _blocks("python") if "class Softplus" in block]
    (entry_point,) = [block for block in _blocks("toml") if "[project.entry-points.sweepnet]" in block]
    plugin_name, module = (part.strip().strip('"') for part in entry_point.split("[project.entry-points.sweepnet]")[1]
                           .strip().split("="))  # fmt: skip
    installed_plugin(module.replace("_", "-"), source, entry_point=plugin_name)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    layer = get_registries().layers.component("softplus")
    assert (layer.provider, layer.plugin) == ("sweepnet-softplus", "softplus")
    (test,) = [block for block in _blocks("python") if "def test_softplus" in block]
    namespace: dict = {}
    exec(compile(test, "test_softplus.py", "exec"), namespace)
    namespace["test_softplus"]()
    (usage,) = [block for block in _blocks("yaml") if "softplus" in block]
    plan = plan_from_text("name: softplus\nsolver: {num_epochs: 1}\nsearch: {num_samples: 1}\n" + usage)
    dataset = plan.load_dataset()
    plan.check(dataset)  # the pre-flight conformance check passes too
    result = run_trial(plan.trial_spec(plan.bind(dataset.meta).make_searcher().ask(), number=0), dataset=dataset)
    assert result.state is TrialState.COMPLETED, result.error


def test_the_download_example_declares_a_valid_source():
    (source,) = [block for block in _blocks("python") if "class Rings" in block]
    namespace: dict = {}
    exec(compile(source, "rings.py", "exec"), namespace)
    rings = namespace["Rings"]
    assert rings.source.folder == "rings" and rings.source.files[0].checksum.startswith("sha256:")


def test_the_clash_message_shown_is_the_one_printed():
    kept = Component("layer", "leaky_relu", object, "sweepnet", __version__, None, "", "sweepnet.plugins.layers")
    skipped = Component("layer", "leaky_relu", object, "sweepnet-clash-builtin", "0.1.0", None, "", "clash_builtin")
    hint = f"to use sweepnet-clash-builtin's, set {PREFER_ENV}=leaky_relu=sweepnet-clash-builtin"
    printed = f"{Conflict(kept, skipped)}; {hint}"
    assert f"sweepnet: warning: {printed.replace(__version__, '0.1.0')}`" in DOC.read_text()


def test_the_failed_check_message_shown_is_the_one_printed():
    namespace: dict = {}
    exec((CORPUS / "sweepnet-wrong-shape" / "src" / "wrong_shape" / "__init__.py").read_text(), namespace)
    manager = PluginManager()
    manager.register_plugin(_module(namespace), "wrong_shape", provider="sweepnet-wrong-shape", version="0.1.0")
    component = manager.build_registries().layers.component("bad_dx")
    shown = f"FAILED {component.label}: {check_component(component)}"
    assert f"`{shown}`" in DOC.read_text()


def _module(namespace: dict) -> object:
    from types import SimpleNamespace

    return SimpleNamespace(**{k: v for k, v in namespace.items() if k.startswith("sweepnet_")})


@pytest.mark.parametrize("variable", [AUTOLOAD_ENV, PREFER_ENV, "SWEEPNET_DISABLE_PLUGINS"])
def test_every_environment_variable_is_documented(variable):
    assert f"`{variable}" in DOC.read_text()
