"""The hookspecs: names, types, documentation in docs/plugins.md, and a test exercising each."""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from pathlib import Path

import pytest

from sweepnet import hookspecs
from sweepnet.records import SweepInfo, TrialResult, TrialSpec
from sweepnet.registry import Registry
from sweepnet.testing import check_layer

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "plugins.md"

KINDS = ("layers", "optimizers", "datasets", "models", "searchers", "pruners")
REGISTRATION = [f"sweepnet_register_{kind}" for kind in KINDS]
LIFECYCLE = [
    f"sweepnet_{event}"
    for event in ("sweep_prepare", "sweep_start", "trial_start", "trial_report", "trial_end", "sweep_end")
]
QUERIES = ["sweepnet_sweep_history"]


def _hookspecs() -> dict[str, types.FunctionType]:
    """Every function of sweepnet.hookspecs marked as a sweepnet hookspec."""
    return {
        name: function
        for name, function in vars(hookspecs).items()
        if inspect.isfunction(function) and hasattr(function, "sweepnet_spec")
    }


def test_exactly_the_documented_hooks_exist():
    assert sorted(_hookspecs()) == sorted(REGISTRATION + LIFECYCLE + QUERIES)
    assert sorted(name for name in hookspecs.__all__ if name.startswith("sweepnet_")) == sorted(_hookspecs())


def test_names_follow_sweepnet_area_event():
    for name in _hookspecs():
        assert re.fullmatch(r"sweepnet_[a-z]+_[a-z]+", name), name


@pytest.mark.parametrize("name", REGISTRATION + LIFECYCLE + QUERIES)
def test_every_hookspec_is_fully_typed_and_documented(name):
    function = _hookspecs()[name]
    hints = typing.get_type_hints(function)
    parameters = inspect.signature(function).parameters
    assert set(hints) == {*parameters, "return"}, f"{name}: every argument and the return need a type"
    if name not in QUERIES:
        assert hints["return"] is type(None)
    assert function.__doc__ and function.__doc__.strip()


def test_hook_argument_types():
    hints = {name: typing.get_type_hints(function) for name, function in _hookspecs().items()}
    for name in REGISTRATION:
        assert hints[name]["registry"] is Registry
    assert hints["sweepnet_sweep_prepare"]["sweep"] is hints["sweepnet_sweep_start"]["sweep"] is SweepInfo
    assert hints["sweepnet_trial_start"]["trial"] is TrialSpec
    assert hints["sweepnet_trial_report"]["epoch"] is int
    assert hints["sweepnet_trial_report"]["metrics"] == dict[str, float]
    assert hints["sweepnet_trial_end"]["result"] is TrialResult
    assert hints["sweepnet_sweep_end"]["results"] == list[TrialResult]
    assert hints["sweepnet_sweep_history"]["return"] == list[tuple[TrialSpec, TrialResult]] | None


@pytest.mark.parametrize("name", REGISTRATION + LIFECYCLE + QUERIES)
def test_every_hookspec_is_documented_in_plugins_md(name):
    signature = f"{name}({', '.join(inspect.signature(_hookspecs()[name]).parameters)}"
    headings = re.findall(r"^#### `(.+)`$", DOCS.read_text(), flags=re.MULTILINE)
    documented = [heading for heading in headings if heading.startswith(f"{name}(")]
    assert documented, f"docs/plugins.md has no '#### `{name}(...)`' section"
    assert re.sub(r": [^,)]+", "", documented[0]).startswith(signature), f"{name}: documented arguments differ"


@pytest.mark.parametrize("name", REGISTRATION + LIFECYCLE + QUERIES)
def test_every_hookspec_is_exercised_by_a_test(name):
    users = [
        path
        for path in (ROOT / "tests").rglob("test_*.py")
        if path.name != Path(__file__).name and name in path.read_text()
    ]
    assert users, f"no test under tests/ mentions {name}"


def test_the_docs_example_layer_passes_the_conformance_kit():
    text = DOCS.read_text()
    source = re.search(r"`src/sweepnet_softplus/__init__.py`:\n\n```python\n(.*?)```", text, flags=re.DOTALL).group(1)
    module = types.ModuleType("sweepnet_softplus")
    sys.modules["sweepnet_softplus"] = module
    try:
        exec(compile(source, str(DOCS), "exec"), module.__dict__)
    finally:
        del sys.modules["sweepnet_softplus"]
    check_layer(module.Softplus)
    registry = Registry("layer")
    module.sweepnet_register_layers(registry)
    assert registry.get("softplus") is module.Softplus
