"""docs/configuration.md documents every field of the schema and of every built-in component.

The reference is a set of headings, each followed by a table whose first column names the keys
(```| `key` | type | default | meaning |```): ``## Top level``, ``### `data```` ... for the
sections, ``#### `model.name: fc```` ... for the components. These tests fail when a field is
added without documentation, when the docs keep a field that no longer exists, or when a
documented default drifts from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from sweepnet.plan import plan_from_text
from sweepnet.schema import section_models
from sweepnet.yamlfile import parse_yaml

DOCS = Path(__file__).parents[1] / "docs" / "configuration.md"
HEADING = re.compile(r"^#+ (.*)$")
ROW = re.compile(r"^\| `([A-Za-z_][A-Za-z0-9_]*)` \|(.*)\|$")

# registry field -> how the docs head that kind's components
COMPONENT_HEADINGS = {
    "models": "model.name",
    "layers": "layer",
    "optimizers": "solver.update_rule",
    "datasets": "data.name",
    "searchers": "search.searcher",
    "pruners": "pruner.name",
}


def _tables() -> dict[str, dict[str, list[str]]]:
    """heading key -> {documented key: its other cells}; the key is the heading's first `code` span."""
    tables: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in DOCS.read_text().splitlines():
        if heading := HEADING.match(line):
            code = re.search(r"`([^`]+)`", heading.group(1))
            current = code.group(1) if code else heading.group(1)
            tables.setdefault(current, {})
        elif current is not None and (row := ROW.match(line)):
            tables[current][row.group(1)] = [cell.strip() for cell in row.group(2).split("|")]
    return tables


TABLES = _tables()


def _check(model: type[BaseModel], documented: dict[str, list[str]], where: str) -> None:
    fields = model.model_fields
    assert set(fields) - set(documented) == set(), f"undocumented fields of {where}"
    assert set(documented) - set(fields) == set(), f"documented fields of {where} that do not exist"
    for name, info in fields.items():
        default_cell = documented[name][1]
        if info.is_required():
            assert default_cell == "required", f"{where}.{name} is required"
            continue
        default = info.default_factory() if info.default_factory is not None else info.default
        if where == "top level" and isinstance(default, BaseModel | dict):
            continue  # a section: its defaults are in its own table
        assert default_cell.startswith("`") and default_cell.endswith("`"), f"{where}.{name}: default {default_cell}"
        written = parse_yaml(default_cell.strip("`"), str(DOCS))
        assert written == (list(default) if isinstance(default, tuple) else default), f"{where}.{name} default"


@pytest.mark.parametrize(("section", "model"), section_models().items(), ids=lambda value: str(value) or "top")
def test_every_section_field_is_documented_with_its_default(section, model):
    key = section or "Top level"
    assert key in TABLES, f"docs/configuration.md has no heading for {key!r}"
    _check(model, TABLES[key], section or "top level")


@pytest.mark.parametrize("kind", COMPONENT_HEADINGS)
def test_every_built_in_component_and_option_is_documented(builtin_registries, kind):
    registry = dict(builtin_registries.items())[kind]
    for component in registry:
        key = f"{COMPONENT_HEADINGS[kind]}: {component.name}"
        assert key in TABLES, f"docs/configuration.md has no heading `{key}`"
        if component.options is None:
            assert TABLES[key] == {}, key
        else:
            _check(component.options, TABLES[key], key)


def test_the_yaml_examples_are_valid_sweep_files(builtin_registries):
    examples = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    sweeps = [text for text in examples if text.startswith("name:")]
    assert len(sweeps) >= 4
    for text in sweeps:
        plan_from_text(text, source="docs/configuration.md", registries=builtin_registries)
