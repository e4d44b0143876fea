"""Reading sweep files: ``yaml.safe_load`` semantics, plus the floats, errors and limits users expect.

PyYAML implements YAML 1.1, whose float syntax needs a dot: ``1e-3`` would be read as the string
``"1e-3"``. :class:`SweepLoader` also resolves such exponent floats (as YAML 1.2 and every other
YAML library do), and rejects a key given twice in one mapping instead of silently keeping the
last one. Errors are one line naming the file, line and column.

A sweep file is input from anyone, so reading one is bounded before anything walks its values:

- :func:`read_sweep_file` reads regular files of at most :data:`MAX_FILE_BYTES` only (a FIFO,
  ``/dev/zero`` or a directory is refused, never read or waited on);
- :func:`parse_yaml` refuses text longer than that, values nested deeper than :data:`MAX_DEPTH`,
  documents of more than :data:`MAX_VALUES` values once their aliases are expanded (a "billion
  laughs" file is a few lines whose aliases expand to billions of values), an alias inside the
  value it refers to (a recursive structure), and mapping keys that are not text. These limits
  are checked while PyYAML composes the document, so an oversized expansion is never built.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

import yaml

from sweepnet.errors import ConfigError

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "LongInteger",
    "SweepLoader",
    "parse_yaml",
    "read_sweep_file",
]

MAX_FILE_BYTES = 262_144
"""Largest sweep file (and ``--set`` value) read, in bytes (256 KiB; sweep files are a few KB)."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists, aliases expanded (real sweep files nest 4 to 8 deep)."""
MAX_VALUES = 20_000
"""Most values (mappings, lists and scalars) in one document once its aliases are expanded; PyYAML
composes about 10,000 a second on a slow machine, so a document is refused within seconds."""

_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class LongInteger(int):
    """An integer written with more digits than Python converts (``sys.get_int_max_str_digits``).

    It stands in for the number as ``±10**30``: far outside every range the schema allows, so the
    value is refused with its field named, and shown as the first digits and the digit count.
    """

    digits: str

    def __new__(cls, text: str) -> LongInteger:
        negative = text.startswith("-")
        number = super().__new__(cls, -(10**30) if negative else 10**30)
        number.digits = text
        return number

    def __reduce__(self) -> tuple[type[LongInteger], tuple[str]]:
        return LongInteger, (self.digits,)  # copies and pickles keep the digits

    def __repr__(self) -> str:
        count = len(self.digits.lstrip("+-"))
        return f"{self.digits[:12]}... ({count} digits)"

    __str__ = __repr__


class _Refused(yaml.MarkedYAMLError):
    """Well-formed YAML beyond the reader's limits (reported without "invalid YAML")."""


class SweepLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that reads ``1e-3`` as a float, refuses duplicate and non-text keys,
    and bounds nesting and alias expansion (:data:`MAX_DEPTH`, :data:`MAX_VALUES`)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0  # values composed so far, aliases expanded
        # id(node) -> (values it holds with aliases expanded, its nesting depth); a node is
        # measured once it is complete, so an alias to an unmeasured node is recursive.
        self._measured: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._measured:
                raise _Refused(
                    None,
                    None,
                    f"the alias *{event.anchor} is inside the value it refers to (a recursive alias)",
                    event.start_mark,
                )
            if target is not None:
                self._count(self._measured[id(target)][0], event.start_mark)
            alias = super().compose_node(parent, index)
            assert alias is not None  # PyYAML's compose_node always returns a node; its stub says Node | None
            return alias
        event = self.peek_event()
        if self._depth >= MAX_DEPTH:
            raise _Refused(None, None, f"values are nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._count(1, event.start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        assert node is not None  # as above: never None
        self._measure(node)
        return node

    def _count(self, values: int, mark: yaml.Mark) -> None:
        """Add ``values`` to the document's running total (an alias adds all it expands to)."""
        self._values += values
        if self._values > MAX_VALUES:
            raise _Refused(None, None, f"more than {MAX_VALUES:,} values once its aliases are expanded", mark)

    def _measure(self, node: yaml.Node) -> None:
        """Record the expanded size and depth of a complete ``node``; refuse it nested too deep."""
        if isinstance(node, yaml.ScalarNode):
            self._measured[id(node)] = (1, 1)
            return
        children = (
            [child for pair in node.value for child in pair] if isinstance(node, yaml.MappingNode) else node.value
        )
        sizes = [self._measured[id(child)] for child in children]
        values = 1 + sum(size for size, _ in sizes)
        depth = 1 + max((depth for _, depth in sizes), default=0)
        if depth > MAX_DEPTH:
            raise _Refused(
                None,
                None,
                f"values are nested deeper than {MAX_DEPTH} levels once aliases are expanded",
                node.start_mark,
            )
        self._measured[id(node)] = (values, depth)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                hint = " (quote it)" if isinstance(key_node, yaml.ScalarNode) else ""
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be text, got {_describe(key)}{hint}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # more digits than int() converts
            return LongInteger(self.construct_scalar(node).replace("_", ""))


# The float resolver is looked up by the scalar's first character.
SweepLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))
SweepLoader.add_constructor("tag:yaml.org,2002:int", SweepLoader.construct_yaml_int)


def read_sweep_file(path: str | os.PathLike[str]) -> str:
    """The text of the sweep file at ``path``: a regular file of at most :data:`MAX_FILE_BYTES`.

    The file is opened without blocking and checked on the open descriptor, so a FIFO is refused
    rather than waited on, and a file swapped for a device after a check is not read either.

    Raises
    ------
    ConfigError
        naming ``path``: missing, not a regular file, too large, unreadable, or not UTF-8.
    """
    where = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(where, "no such sweep file") from None
    except OSError as err:
        raise ConfigError(where, f"cannot read the sweep file: {err.strerror or err}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ConfigError(where, f"cannot read the sweep file: it is {_file_kind(mode)}, not a regular file")
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(MAX_FILE_BYTES + 1)
        except OSError as err:
            raise ConfigError(where, f"cannot read the sweep file: {err.strerror or err}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(where, f"the sweep file is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(where, f"the sweep file is not UTF-8 text (byte {err.start})") from None


def parse_yaml(text: str, source: str) -> Any:
    """The plain data of YAML ``text`` (mappings with text keys, lists, scalars; no Python objects).

    Parameters
    ----------
    text : the YAML document.
    source : where ``text`` came from (a file name, ``"--set"`` ...), named in errors.

    Raises
    ------
    ConfigError
        ``"<source>:<line>:<column>: invalid YAML: <problem>"`` for malformed text, and
        ``"<source>:<line>:<column>: <problem>"`` for text beyond the limits of this module.
    """
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(source, f"longer than {MAX_FILE_BYTES:,} characters")
    try:
        return yaml.load(text, Loader=SweepLoader)  # SweepLoader is a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = err.problem or err.context or "malformed"
        if err.context and err.problem and err.context_mark is not None:
            problem += f" ({err.context} started at line {err.context_mark.line + 1})"
        raise ConfigError(where, problem if isinstance(err, _Refused) else f"invalid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(source, f"invalid YAML: {' '.join(str(err).split())}") from None


def _describe(value: Any) -> str:
    text = repr(value)
    kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else type(value).__name__
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")
