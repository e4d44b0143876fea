"""Reading sweep files: ``yaml.safe_load`` semantics, plus the floats and errors users expect.

PyYAML implements YAML 1.1, whose float syntax needs a dot: ``1e-3`` would be read as the string
``"1e-3"``. :class:`SweepLoader` also resolves such exponent floats (as YAML 1.2 and every other
YAML library do), and rejects a key given twice in one mapping instead of silently keeping the
last one. Errors are one line naming the file, line and column.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from sweepnet.errors import ConfigError

__all__ = ["SweepLoader", "parse_yaml"]

_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")


class SweepLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that reads ``1e-3`` as a float and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# The float resolver is looked up by the scalar's first character.
SweepLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


def parse_yaml(text: str, source: str) -> Any:
    """The plain data of YAML ``text`` (mappings, lists, scalars; no Python objects).

    Parameters
    ----------
    text : the YAML document.
    source : where ``text`` came from (a file name, ``"--set"`` ...), named in errors.

    Raises
    ------
    ConfigError
        ``"<source>:<line>:<column>: invalid YAML: <problem>"`` for malformed text.
    """
    try:
        return yaml.load(text, Loader=SweepLoader)  # SweepLoader is a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = err.problem or err.context or "malformed"
        if err.context and err.problem and err.context_mark is not None:
            problem += f" ({err.context} started at line {err.context_mark.line + 1})"
        raise ConfigError(where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(source, f"invalid YAML: {' '.join(str(err).split())}") from None
