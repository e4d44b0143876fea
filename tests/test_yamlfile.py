"""The sweep-file YAML loader: safe_load semantics, exponent floats, duplicate keys, one-line errors,
and the limits that keep hostile files cheap (size, nesting, alias expansion, keys, long integers)."""

from __future__ import annotations

import copy
import os
import pickle
import re

import pytest
import yaml

from sweepnet.errors import ConfigError
from sweepnet.yamlfile import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_VALUES,
    LongInteger,
    SweepLoader,
    parse_yaml,
    read_sweep_file,
)


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


# ----------------------------------------------------------------------------- bounded input


def test_an_alias_bomb_is_refused_while_composing_before_anything_is_built():
    rows = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    with pytest.raises(ConfigError, match=r"^laughs\.yaml:\d+:\d+: more than 20,000 values once its aliases"):
        parse_yaml("\n".join(rows), "laughs.yaml")


def test_aliases_below_the_limit_are_fine_and_merge_keys_work():
    text = "base: &base {name: fc, reg: 0.1}\nmodel:\n  <<: *base\n  reg: 0.2\nagain: *base\n"
    assert parse_yaml(text, "f.yaml") == {
        "base": {"name": "fc", "reg": 0.1},
        "model": {"name": "fc", "reg": 0.2},
        "again": {"name": "fc", "reg": 0.1},
    }


@pytest.mark.parametrize(
    "text", ["a: &a [*a]", "a: &a {b: *a}", "a: &a [1, [2, {c: *a}]]"], ids=["list", "mapping", "nested"]
)
def test_a_recursive_alias_is_refused(text):
    with pytest.raises(ConfigError, match=r"the alias \*a is inside the value it refers to \(a recursive alias\)"):
        parse_yaml(text, "f.yaml")


def test_deep_nesting_is_refused_without_a_recursion_error():
    text = "a: " + "[" * 100_000 + "]" * 100_000
    with pytest.raises(ConfigError, match=r"^f\.yaml:1:\d+: values are nested deeper than 32 levels$"):
        parse_yaml(text, "f.yaml")
    assert parse_yaml("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1), "f.yaml")


def test_nesting_through_aliases_counts_the_expanded_depth():
    rows = ["d0: &d0 [[[[[[[[[[1]]]]]]]]]]"] + [f"d{i}: &d{i} [[[[[[[[[[*d{i - 1}]]]]]]]]]]" for i in range(1, 4)]
    with pytest.raises(ConfigError, match="nested deeper than 32 levels once aliases are expanded"):
        parse_yaml("\n".join(rows), "f.yaml")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("? [a, b]\n: 1", "a list ['a', 'b']"),
        ("{1: x}", "int 1 (quote it)"),
        ("yes: 1", "bool True (quote it)"),
        ("~: 1", "NoneType None (quote it)"),
        ("? {a: 1}\n: 2", "a mapping {'a': 1}"),
    ],
)
def test_keys_must_be_text(text, kind):
    with pytest.raises(ConfigError, match=re.escape(f"invalid YAML: a key must be text, got {kind}")):
        parse_yaml(text, "f.yaml")


def test_an_integer_too_long_for_python_becomes_an_out_of_range_stand_in():
    value = parse_yaml("n: " + "7" * 5000, "f.yaml")["n"]
    assert isinstance(value, LongInteger) and abs(value) > 2**63
    assert repr(value) == "777777777777... (5000 digits)"
    negative = parse_yaml("n: -" + "7" * 5000, "f.yaml")["n"]
    assert negative < -(2**63) and repr(negative).startswith("-77777777777")
    assert copy.deepcopy(value).digits == value.digits and pickle.loads(pickle.dumps(negative)) == negative


def test_text_longer_than_the_limit_is_refused_before_parsing():
    with pytest.raises(ConfigError, match=r"^--set x: longer than 262,144 characters$"):
        parse_yaml("[" + "1," * MAX_FILE_BYTES + "]", "--set x")


def test_more_values_than_the_limit_are_refused_even_without_aliases():
    with pytest.raises(ConfigError, match="more than 20,000 values"):
        parse_yaml("[" + "1," * MAX_VALUES + "]", "f.yaml")


# ----------------------------------------------------------------------------- reading files


def test_a_regular_file_is_read(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: é\n", encoding="utf-8")
    assert read_sweep_file(path) == "name: é\n"


def test_a_missing_file_a_directory_and_a_device_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="no such sweep file"):
        read_sweep_file(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="it is a directory, not a regular file"):
        read_sweep_file(tmp_path)
    with pytest.raises(ConfigError, match="^/dev/zero: cannot read the sweep file: it is a character device"):
        read_sweep_file("/dev/zero")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"it is a FIFO \(named pipe\), not a regular file"):
        read_sweep_file(fifo)  # opened non-blocking: a blocking open would hang here


def test_a_file_above_the_size_limit_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("wb") as file:
        file.truncate(50 * MAX_FILE_BYTES)  # sparse: 50 MB that cost no disk
    with pytest.raises(ConfigError, match="the sweep file is larger than 262,144 bytes"):
        read_sweep_file(path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"the sweep file is not UTF-8 text \(byte 9\)"):
        read_sweep_file(path)
