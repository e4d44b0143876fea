"""``sweepnet plugins`` lists components with their providers; ``--check`` names broken ones."""

from __future__ import annotations

import pytest

from sweepnet import __version__
from sweepnet.cli import main
from sweepnet.pluginmanager import AUTOLOAD_ENV, get_registries

BAD_LAYER = """
    import numpy as np
    from sweepnet import hookimpl
    from sweepnet.layer import Layer

    class BadRelu(Layer):
        "A ReLU whose backward forgets the mask."

        def forward(self, x, params, mode):
            return np.maximum(x, 0), x

        def backward(self, dout, cache):
            return dout, {}

    @hookimpl
    def sweepnet_register_layers(registry):
        registry.add("bad_relu", BadRelu)
"""

ASCENDING_OPTIMIZER = """
    from sweepnet import hookimpl

    def uphill(w, dw, config=None):
        "Steps the wrong way."
        return w + 0.01 * dw, {} if config is None else config

    @hookimpl
    def sweepnet_register_optimizers(registry):
        registry.add("uphill", uphill)
"""


@pytest.fixture(autouse=True)
def _fresh(fresh_plugin_state, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # rich sizes tables by it when not on a terminal


def _rows(output: str) -> list[tuple[str, ...]]:
    """The body rows of the rich tables in ``output``, as tuples of stripped cells."""
    lines = [line for line in output.splitlines() if line.startswith("│")]
    return [tuple(cell.strip() for cell in line.strip("│").split("│")) for line in lines]


def test_lists_every_component_with_kind_provider_and_version(capsys):
    assert main(["plugins"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert ("layer", "conv", "sweepnet", __version__) == rows[[row[1] for row in rows].index("conv")][:4]
    listed = {(row[0], row[1]) for row in rows}
    assert {("layer", "relu"), ("optimizer", "adam"), ("model", "sequential"), ("model", "knn")} <= listed
    for kind in ("layer", "optimizer", "model"):
        assert any(row[0] == kind and row[4] for row in rows), f"{kind} rows have descriptions"


def test_entry_point_plugins_are_listed_with_their_distribution(capsys, installed_plugin, monkeypatch):
    installed_plugin("bad-layers", BAD_LAYER, version="0.2")
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert main(["plugins"]) == 0
    assert ("layer", "bad_relu", "bad-layers", "0.2", "A ReLU whose backward forgets the mask.") in _rows(
        capsys.readouterr().out
    )


def test_check_passes_for_the_builtins_naming_each_one(capsys, builtin_registries):
    assert main(["plugins", "--check"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out
    checked = [line for line in out.splitlines() if line.startswith("ok ")]
    for component in [*builtin_registries.layers, *builtin_registries.optimizers]:
        assert sum(line.startswith(f"ok     {component.label} (") for line in checked) == 1, component.name
    assert len(checked) == len(builtin_registries.layers) + len(builtin_registries.optimizers)
    assert f"checked {len(checked)} layers and optimizers: 0 problem(s)" in out


def test_check_fails_naming_a_layer_whose_backward_is_wrong(capsys, installed_plugin, monkeypatch):
    installed_plugin("bad-layers", BAD_LAYER, version="0.2")
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert main(["plugins", "--check"]) == 1
    [failure] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAILED")]
    assert failure.startswith(
        "FAILED layer 'bad_relu' of plugin 'plugin' (bad-layers 0.2): layer BadRelu() at input shape (7,): "
        "dx does not match"
    )


def test_check_fails_naming_an_optimizer_that_does_not_descend(capsys, installed_plugin, monkeypatch):
    installed_plugin("uphill-optim", ASCENDING_OPTIMIZER)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert main(["plugins", "--check"]) == 1
    out = capsys.readouterr().out
    assert "FAILED optimizer 'uphill' of plugin 'plugin' (uphill-optim 1.0): optimizer 'uphill': 100 steps" in out
    assert "ok     optimizer 'adam' of sweepnet" in out


def test_a_plugin_that_failed_to_load_is_shown_and_fails_the_check(capsys, installed_plugin, monkeypatch):
    installed_plugin("broken-plugin", "raise RuntimeError('needs CUDA')\n", entry_point="broken")
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert main(["plugins"]) == 0
    out, err = capsys.readouterr()
    error = "failed to import 'broken_plugin': RuntimeError: needs CUDA"
    assert err == f"sweepnet: warning: plugin 'broken' (broken-plugin 1.0) skipped: {error}\n"
    assert "plugins not loaded" in out
    assert ("broken", "broken-plugin", "1.0", error) in _rows(out)
    assert main(["plugins", "--check"]) == 1
    assert f"FAILED plugin 'broken' (broken-plugin 1.0): {error}" in capsys.readouterr().out


def test_a_name_clash_is_a_warning_and_a_table_row_and_stops_nothing(capsys, installed_plugin, monkeypatch):
    installed_plugin(
        "conv-clash",
        """
        from sweepnet import hookimpl

        @hookimpl
        def sweepnet_register_layers(registry):
            registry.add("conv", object)
        """,
        version="3.0",
        entry_point="clash",
    )
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert main(["plugins"]) == 0
    out, err = capsys.readouterr()
    assert err == (
        f"sweepnet: warning: layer 'conv' of plugin 'clash' (conv-clash 3.0) skipped: the name is taken by "
        f"sweepnet {__version__}, which registered it first; to use conv-clash's, set SWEEPNET_PREFER=conv=conv-clash\n"
    )
    assert "name clashes (choose with SWEEPNET_PREFER=NAME=DISTRIBUTION)" in out
    clash = "plugin 'clash' (conv-clash 3.0)"
    assert ("layer", "conv", f"sweepnet {__version__}", clash, "registered first") in _rows(out)
    monkeypatch.setenv("SWEEPNET_PREFER", "conv=conv-clash")
    get_registries.cache_clear()
    assert main(["plugins"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    row = ("layer", "conv", clash, f"sweepnet {__version__}", "preferred by SWEEPNET_PREFER")
    assert row in _rows(out)


def test_a_disabled_plugin_is_listed_as_such(capsys, installed_plugin, monkeypatch):
    installed_plugin("broken-plugin", "raise RuntimeError('needs CUDA')\n", entry_point="broken")
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    monkeypatch.setenv("SWEEPNET_DISABLE_PLUGINS", "broken")
    assert main(["plugins", "--check"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert ("broken", "broken-plugin", "1.0", "disabled by SWEEPNET_DISABLE_PLUGINS") in _rows(out)


def test_tables_are_full_width_when_stdout_is_not_a_terminal(capsys, installed_plugin, monkeypatch):
    installed_plugin(
        "sweepnet-leaky-relu-with-a-long-distribution-name",
        """
        from sweepnet import hookimpl

        class Wordy:
            "A description far longer than any narrow window would show without cutting it off at the end."

        @hookimpl
        def sweepnet_register_layers(registry):
            registry.add("wordy_layer_with_a_long_name", Wordy)
        """,
        version="10.20.30",
    )
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    row = [r for r in _rows(out) if r[1] == "wordy_layer_with_a_long_name"][0]
    assert row == (
        "layer",
        "wordy_layer_with_a_long_name",
        "sweepnet-leaky-relu-with-a-long-distribution-name",
        "10.20.30",
        "A description far longer than any narrow window would show without cutting it off at the end.",
    )


def test_markdown_lists_every_component(capsys, builtin_registries):
    assert main(["plugins", "--markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["| kind | name | provider | description |", "|---|---|---|---|"]
    assert len(lines) == 2 + sum(len(registry) for _, registry in builtin_registries.items())
    assert "| layer | `conv` | sweepnet | " in "\n".join(lines)
