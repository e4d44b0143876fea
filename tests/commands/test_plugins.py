"""``sweepnet plugins`` lists components with their providers; ``--check`` names broken ones."""

from __future__ import annotations

import pytest

from sweepnet import __version__
from sweepnet.cli import main
from sweepnet.pluginmanager import AUTOLOAD_ENV, PluginWarning

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


def test_check_passes_for_the_builtins(capsys):
    assert main(["plugins", "--check"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out
    assert "checked" in out and "0 problem(s)" in out


def test_check_fails_naming_a_layer_whose_backward_is_wrong(capsys, installed_plugin, monkeypatch):
    installed_plugin("bad-layers", BAD_LAYER, version="0.2")
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert main(["plugins", "--check"]) == 1
    [failure] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAILED")]
    assert failure.startswith(
        "FAILED layer 'bad_relu' (bad-layers 0.2): layer BadRelu() at input shape (7,): dx does not match"
    )


def test_check_fails_naming_an_optimizer_that_does_not_descend(capsys, installed_plugin, monkeypatch):
    installed_plugin("uphill-optim", ASCENDING_OPTIMIZER)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert main(["plugins", "--check"]) == 1
    out = capsys.readouterr().out
    assert "FAILED optimizer 'uphill' (uphill-optim 1.0): optimizer 'uphill': 100 steps on a quadratic" in out


def test_a_plugin_that_failed_to_load_is_shown_and_fails_the_check(capsys, installed_plugin, monkeypatch):
    installed_plugin("broken-plugin", "raise RuntimeError('needs CUDA')\n", entry_point="broken")
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    with pytest.warns(PluginWarning):
        assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "plugins that failed to load" in out
    error = "failed to import 'broken_plugin': RuntimeError: needs CUDA"
    assert ("broken", "broken-plugin", "1.0", error) in _rows(out)
    assert main(["plugins", "--check"]) == 1
    assert "FAILED plugin 'broken' (broken-plugin 1.0): failed to import" in capsys.readouterr().out


def test_a_duplicate_name_is_a_user_error_naming_both_providers(capsys, installed_plugin, monkeypatch):
    installed_plugin(
        "conv-clash",
        """
        from sweepnet import hookimpl

        @hookimpl
        def sweepnet_register_layers(registry):
            registry.add("conv", object)
        """,
        version="3.0",
    )
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert main(["plugins"]) == 2
    assert capsys.readouterr().err == (
        f"sweepnet: error: layer 'conv' is registered twice: by sweepnet {__version__} and by conv-clash 3.0\n"
    )
