"""Plugin layers and optimizers checked where they run: before a sweep (validate, sweep, trial)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sweepnet import conformance
from sweepnet.cli import main
from sweepnet.config import load_plan
from sweepnet.conformance import check_component, sweep_components
from sweepnet.pluginmanager import AUTOLOAD_ENV, get_registries
from sweepnet.registry import Component

LAYERS = Path(__file__).parent / "plugins" / "misbehaving.py"

SWEEP = """\
name: plugin-check
data: {{name: digits, flatten: true}}
model: {{name: sequential, layers: [{{name: affine, units: 16}}, {layer}, {{name: affine, units: 10}}]}}
solver: {{update_rule: {rule}, num_epochs: 1, num_train_samples: 50}}
search: {{searcher: grid}}
"""


@pytest.fixture
def plugin_layers(installed_plugin, fresh_plugin_state, monkeypatch):
    """The layers and optimizer above, installed as ``bad-layers 0.4`` (entry point ``bad``)."""
    installed_plugin("bad-layers", LAYERS.read_text(), version="0.4", entry_point="bad")
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    conformance._cached_problem.cache_clear()
    return get_registries()


@pytest.fixture
def sweep_file(tmp_path):
    def write(layer: str = "double", rule: str = "adam") -> str:
        path = tmp_path / f"{layer}-{rule}.yaml"
        path.write_text(SWEEP.format(layer=layer, rule=rule))
        return str(path)

    return write


def test_check_component_names_each_kind_of_problem(plugin_layers):
    layers = plugin_layers.layers
    assert check_component(layers.component("double")) is None
    assert check_component(layers.component("bad_dx")) == (
        "layer BadDx() at input shape (7,): backward returned dx of shape (3, 6) for x of shape (3, 7)"
    )
    assert check_component(layers.component("cube")).startswith(
        "layer Cube() at input shape (7,): dx does not match the numerical gradient (relative error"
    )
    assert check_component(plugin_layers.optimizers.component("uphill")).startswith(
        "optimizer 'uphill': 100 steps on a quadratic only took the loss from"
    )


def test_a_crash_inside_the_plugin_is_a_problem_too():
    def crashing(w, dw, config=None):
        raise ZeroDivisionError("oops")

    component = Component("optimizer", "crashing", crashing, "x", "1", None, "", "x")
    assert check_component(component) == "ZeroDivisionError: oops"


@pytest.mark.parametrize(
    "layer, rule, message",
    [
        ("bad_dx", "adam", "model.layers[1]: layer 'bad_dx' of plugin 'bad' (bad-layers 0.4) fails the conformance "
         "check: layer BadDx() at input shape (7,): backward returned dx of shape (3, 6) for x of shape (3, 7)"),
        ("cube", "adam", "model.layers[1]: layer 'cube' of plugin 'bad' (bad-layers 0.4) fails the conformance "
         "check: layer Cube() at input shape (7,): dx does not match the numerical gradient"),
        ("relu", "uphill", "solver.update_rule: optimizer 'uphill' of plugin 'bad' (bad-layers 0.4) fails the "
         "conformance check: optimizer 'uphill': 100 steps on a quadratic only took the loss from"),
    ],
)  # fmt: skip
def test_validate_fails_in_one_line_naming_the_component_plugin_and_distribution(
    plugin_layers, sweep_file, capsys, layer, rule, message
):
    assert main(["validate", sweep_file(layer, rule)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sweepnet: error: {message}")
    assert err.count("\n") == 1


def test_a_sweep_that_uses_only_good_components_validates(plugin_layers, sweep_file, capsys):
    assert main(["validate", sweep_file("double", "adam")]) == 0
    assert "is valid" in capsys.readouterr().out


def test_a_searched_layer_is_checked_at_its_place_in_the_space(plugin_layers, tmp_path):
    path = tmp_path / "searched.yaml"
    path.write_text(SWEEP.format(layer="{choice: [relu, double, bad_dx]}", rule="{choice: [sgd, adam]}"))
    plan = load_plan(path)
    setups = [setup for _, setup in plan._setups]
    used = [(field, component.name) for field, component, _ in sweep_components(setups, plugin_layers)]
    assert sorted(used) == sorted(
        [("solver.update_rule", "sgd"), ("solver.update_rule", "adam"), ("model.layers[0]", "affine"),
         ("model.layers[1]", "relu"), ("model.layers[1]", "double"), ("model.layers[1]", "bad_dx")]
    )  # fmt: skip
    with pytest.raises(conformance.ConformanceError, match=r"^model.layers\[1\]: layer 'bad_dx'"):
        plan.check(plan.load_dataset())


def test_each_component_is_checked_once_per_process_in_well_under_a_second(plugin_layers, sweep_file, monkeypatch):
    plan = load_plan(sweep_file("double", "adam"))
    dataset = plan.load_dataset()
    start = time.perf_counter()
    plan.check(dataset)
    assert time.perf_counter() - start < 5  # a generous bound: model builds included, on a loaded machine
    calls = []
    monkeypatch.setattr(conformance, "check_component", lambda *args: calls.append(args))
    plan.check(dataset)
    assert calls == []


def test_builtin_components_are_left_to_sweepnets_own_tests(plugin_layers, sweep_file, monkeypatch):
    calls = []
    monkeypatch.setattr(conformance, "check_component", lambda component, config: calls.append(component.name))
    plan = load_plan(sweep_file("relu", "adam"))
    plan.check(plan.load_dataset())
    assert calls == []


def test_a_layer_right_only_at_its_example_shape_fails_the_trial_naming_it(plugin_layers, sweep_file, capsys):
    """It passes the pre-flight; the sequential model's first step names it, not the affine after it."""
    assert main(["trial", sweep_file("truncate", "adam"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert (
        "LayerContractError: model.layers[1]: layer 'truncate' of plugin 'bad' (bad-layers 0.4): forward returned "
        "shape (100, 7) for input (100, 16); its init_params promised (N, *(16,)) (on the model's first step)"
    ) in err
    assert "affine_forward" not in err.splitlines()[-2]
