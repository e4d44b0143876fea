"""The sweep-file YAML loader: safe_load semantics, exponent floats, duplicate keys, one-line errors."""

from __future__ import annotations

import pytest
import yaml

from sweepnet.errors import ConfigError
from sweepnet.yamlfile import SweepLoader, parse_yaml


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1e-3", 1e-3), ("-2E+4", -2e4), (".5e3", 500.0), ("1.0e-2", 1e-2), ("3e0", 3.0), ("+7e-1", 0.7)],
)
def test_exponent_floats_are_floats(text, expected):
    value = parse_yaml(f"x: {text}", "f.yaml")["x"]
    assert isinstance(value, float) and value == pytest.approx(expected)


@pytest.mark.parametrize("text", ["e5", "-.e5", "1e", "1e-", "0x1e3", "'1e-3'"])
def test_text_that_is_not_an_exponent_float_stays_what_yaml_says(text):
    assert parse_yaml(f"x: {text}", "f.yaml")["x"] == yaml.safe_load(f"x: {text}")["x"]


def test_plain_yaml_is_read_like_safe_load():
    text = "name: q\nmodel: {name: fc, hidden_dims: [64, 32]}\nflag: yes\nnothing: null\nn: 3\n"
    assert parse_yaml(text, "f.yaml") == yaml.safe_load(text)


def test_python_objects_are_refused():
    with pytest.raises(ConfigError, match=r"f\.yaml:1:4: invalid YAML"):
        parse_yaml("x: !!python/object/apply:os.system ['true']", "f.yaml")


def test_a_key_given_twice_is_an_error_naming_its_line():
    with pytest.raises(ConfigError) as info:
        parse_yaml("solver: {batch_size: 1}\nmodel: {name: fc}\nsolver: {num_epochs: 2}\n", "sweep.yaml")
    assert str(info.value).startswith("sweep.yaml:3:1: invalid YAML: duplicate key 'solver'")


def test_syntax_errors_name_file_line_and_column_on_one_line():
    with pytest.raises(ConfigError) as info:
        parse_yaml("name: q\nmodel:\n  hidden_dims: [64, 32\nsearch: {}\n", "sweep.yaml")
    message = str(info.value)
    assert message.startswith("sweep.yaml:4:") and "started at line 3" in message
    assert "\n" not in message


def test_loader_is_a_safe_loader():
    assert issubclass(SweepLoader, yaml.SafeLoader)
