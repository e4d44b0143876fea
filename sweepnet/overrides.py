"""``--set path.to.key=value`` overrides of a sweep file.

The value is read as a YAML flow value, so numbers, lists, mappings and search spaces work::

    --set search.num_samples=3
    --set model.hidden_dims=[64,64]
    --set model.hidden_dims[0]=256
    --set "solver.optim_config.learning_rate={loguniform: [1.0e-4, 1.0e-2]}"

except that a value for a text field of the schema stays the text as typed (``--set name=123``
names the sweep ``"123"``). Missing mappings along the path are created; whether the key exists
is checked by the validation of the merged config, which names the path.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sweepnet.errors import ConfigError
from sweepnet.schema import SweepConfig
from sweepnet.search import SPACE_KEYWORDS
from sweepnet.yamlfile import MAX_DEPTH, parse_yaml

__all__ = ["Override", "apply_overrides", "parse_override"]

_PATH = re.compile(r"[A-Za-z_][\w-]*(?:\[\d+\])*(?:\.[A-Za-z_][\w-]*(?:\[\d+\])*)*")
_TOKEN = re.compile(r"[A-Za-z_][\w-]*|\[(\d+)\]")
_MAX_INDEX_DIGITS = 9  # the reader allows no list longer than a few thousand items

Override = tuple[str, list[str | int], Any]
"""``(path, its keys and list indices, value)``, e.g. ``("model.hidden_dims[0]", ["model", "hidden_dims", 0], 256)``."""


def parse_override(item: str) -> Override:
    """Split ``"path.to.key=value"`` and read the value.

    Raises
    ------
    ConfigError
        naming ``--set`` for text that is not ``path=value`` or a value that is not valid YAML.
    """
    path, separator, text = item.partition("=")
    path = path.strip()
    if not separator or not _PATH.fullmatch(path):
        raise ConfigError("--set", f"expected path.to.key=value (e.g. solver.num_epochs=3), got {_short(item)}")
    tokens = _tokens(path)
    if len(tokens) > MAX_DEPTH:
        raise ConfigError(f"--set {_short(path)}", f"the path is deeper than {MAX_DEPTH} keys and indices")
    if any(len(index) > _MAX_INDEX_DIGITS for _, index in tokens):
        raise ConfigError(f"--set {_short(path)}", "a list index is longer than any list")
    keys: list[str | int] = [int(index) if index else name for name, index in tokens]
    value = parse_yaml(text, f"--set {path}")
    if isinstance(value, bool | int | float) and _is_text_field(keys):
        value = text.strip()
    return path, keys, value


def apply_overrides(config: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``config`` with every override applied, in order.

    Raises
    ------
    ConfigError
        naming the override whose path runs into a value that is not a mapping (or not a list for
        an index), an index out of range, or a search space (set the space as a whole instead).
    """
    config = copy.deepcopy(config)
    for item in overrides:
        path, keys, value = parse_override(item)
        _assign(config, keys, value, path)
    return config


def _tokens(path: str) -> list[tuple[str, str]]:
    return [(match.group(0), match.group(1) or "") for match in _TOKEN.finditer(path)]


def _assign(node: Any, keys: list[str | int], value: Any, path: str) -> None:
    """Set ``node[keys[0]][keys[1]]... = value``, creating missing mappings."""
    where = ""
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        if _is_space(node):
            raise ConfigError(f"--set {path}", f"{where} is a search space; override it as a whole (--set {where}=...)")
        if isinstance(key, int):
            if not isinstance(node, list):
                raise ConfigError(f"--set {path}", f"{where} is not a list, it cannot be indexed")
            if key >= len(node):
                raise ConfigError(f"--set {path}", f"index {key} is out of range: {where} has {len(node)} items")
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {path}", f"{where or 'the sweep file'} is not a mapping, it has no key {key!r}")
        elif not last and node.get(key) is None:
            node[key] = {}
        where += f"[{key}]" if isinstance(key, int) else (f".{key}" if where else key)
        if last:
            node[key] = value
        else:
            node = node[key]


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


def _is_space(node: Any) -> bool:
    return isinstance(node, dict) and len(node) == 1 and next(iter(node)) in SPACE_KEYWORDS


def _is_text_field(keys: list[str | int]) -> bool:
    """True when the schema types the field at ``keys`` as text (``str``, a path, ``str | None``)."""
    model: type[BaseModel] = SweepConfig
    for position, key in enumerate(keys):
        info = model.model_fields.get(key) if isinstance(key, str) else None
        if info is None:
            return False
        annotation = info.annotation
        if position < len(keys) - 1:
            nested = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
            if not nested:
                return False  # below a plugin's options or a list: typed by the plugin, not here
            model = nested[0]
    return all(member in (str, Path) for member in _members(annotation))


def _members(annotation: Any) -> list[Any]:
    """The types of ``annotation`` without ``None``: ``str | None`` -> ``[str]``."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return [annotation]
