"""The search-space grammar: a sweep config (plain data) in, a :class:`SearchSpace` out.

Any value of a config may be a search space: a mapping with exactly one key from
:data:`SPACE_KEYWORDS`::

    solver:
      optim_config:
        learning_rate: {loguniform: [1.0e-4, 1.0e-1]}
      update_rule:
        choice:
          - {name: sgd_momentum, momentum: {uniform: [0.5, 0.99]}}
          - {name: adam}
    model:
      hidden_dims: [{grid: [64, 128]}, 32]

Every other mapping and list is ordinary data and is searched for spaces inside. Options of a
``choice``/``grid`` may hold spaces of their own: those parameters exist only when that option is
taken. Bounds are ``[lo, hi]`` with ``lo < hi``; ``randint``/``qrandint`` include ``hi`` (like
Optuna's ``suggest_int``); ``q...`` keywords take the multiples of ``q`` in ``[lo, hi]``.

Parameters are flat and keyed by dotted path (``"solver.optim_config.learning_rate"``,
``"model.hidden_dims[0]"``). A choice's parameter value is its option, or for an option that is a
mapping its ``name`` (else its index); the option's own parameters nest under the same path
(``"solver.update_rule.momentum"``).

A single-key mapping whose key is a near miss of a keyword (``{logunifrom: [...]}``) is rejected
with a "did you mean" hint rather than silently taken as data: such a key is almost certainly a
typo, and components reject unknown config keys anyway.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator
from numbers import Integral, Real
from typing import Any, cast

from sweepnet.errors import ConfigError
from sweepnet.search.distributions import Categorical, Distribution, Float, Int

__all__ = ["MAX_OPTIONS", "SPACE_KEYWORDS", "SearchSpace", "Suggest"]

SPACE_KEYWORDS = ("grid", "choice", "uniform", "loguniform", "randint", "quniform", "qloguniform", "qrandint")

MAX_OPTIONS = 1000
"""Most options of one ``choice`` or ``grid``: every option is validated before the sweep starts."""
_MAX_INT_BOUND = 2**62  # randint's hi + 1 must fit numpy's int64

Suggest = Callable[[str, Distribution], Any]
"""``suggest(path, distribution) -> value``: picks the value of one parameter during a walk."""


class SearchSpace:
    """A sweep config whose values may be search spaces.

    Parameters
    ----------
    config : plain data as ``yaml.safe_load`` returns it (mappings, lists, scalars).

    Raises
    ------
    ConfigError
        naming the dotted path of the first invalid space.
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self._template = _parse(config, "")
        self._spaced = _spaced(self._template)
        self._sizes: dict[int, int | None] | None = None  # by node id: counted once, see _counted

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sizes": None}  # node ids mean nothing in another process

    def walk(self, suggest: Suggest) -> dict[str, Any]:
        """Call ``suggest(path, distribution)`` for every parameter of the branch taken.

        This is the one primitive behind every searcher: random sampling, grid enumeration and
        Optuna's define-by-run ``trial.suggest_*`` differ only in ``suggest``. Parameters are
        visited in config order; a ``choice``'s branch is walked right after its own value.

        Returns
        -------
        The flat parameters, ``{dotted path: value}``.
        """
        params: dict[str, Any] = {}

        def record(path: str, distribution: Distribution) -> Any:
            params[path] = suggest(path, distribution)
            return params[path]

        _realise(self._template, "", record, self._spaced, build=False)
        return params

    def resolve(self, params: dict[str, Any]) -> Any:
        """The config with every space replaced by its value in ``params`` (plain data, no spaces).

        Raises
        ------
        ConfigError
            for a missing parameter, a value outside its distribution, or a parameter that does
            not belong to the branch taken.
        """
        unused = set(params)

        def lookup(path: str, distribution: Distribution) -> Any:
            if path not in params:
                raise ConfigError(path, f"no value given for this {distribution.keyword} parameter")
            if not distribution.contains(params[path]):
                raise ConfigError(path, f"{params[path]!r} is not a value of {distribution}")
            unused.discard(path)
            return params[path]

        config = _realise(self._template, "", lookup, self._spaced)
        if unused:
            raise ConfigError(min(unused), "not a parameter of this search space (or of the branch taken)")
        return config

    def contains(self, params: dict[str, Any]) -> bool:
        """True when ``params`` is exactly one point of this space."""
        try:
            self.resolve(params)
        except ConfigError:
            return False
        return True

    def leaves(self) -> list[tuple[str, Distribution]]:
        """``(path, distribution)`` of every parameter of every branch, in walk order.

        A path appears more than once when several branches define it.
        """
        return list(_leaves(self._template, ""))

    @property
    def size(self) -> int | None:
        """Number of distinct points when every distribution is finite, else None (counted, not listed)."""
        return self._counted()[id(self._template)]

    def _counted(self) -> dict[int, int | None]:
        """The number of points of every node of the template, by ``id`` (counted on first use:
        a grid asks for thousands of points)."""
        if self._sizes is None:
            self._sizes = {}
            _size(self._template, self._sizes)
        return self._sizes

    def point(self, index: int) -> dict[str, Any]:
        """Point number ``index`` of a finite space, in the order a grid lists them (the last
        parameter varying fastest; a choice's branches one after the other), without listing
        the points before it.

        Raises
        ------
        IndexError
            when the space is not finite or has no point ``index``.
        """
        sizes = self._counted()
        size = sizes[id(self._template)]
        if size is None or not 0 <= index < size:
            raise IndexError(f"the search space has no point number {index} (it has {size} points)")
        params: dict[str, Any] = {}
        # The space is finite, so every node below it has a size (a None would have propagated up).
        _point(self._template, "", index, cast(dict[int, int], sizes), params)
        return params


def _parse(node: Any, path: str) -> Any:
    """``node`` with every space replaced by a :class:`Distribution` (recursively)."""
    if isinstance(node, dict):
        keyword = _space_keyword(node, path)
        if keyword is not None:
            return _parse_space(keyword, node[keyword], path)
        return {key: _parse(value, _join(path, key)) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_parse(item, f"{path}[{i}]") for i, item in enumerate(node)]
    return node


def _space_keyword(node: dict[Any, Any], path: str) -> str | None:
    """The space keyword of mapping ``node``, or None when it is ordinary data."""
    keywords = [key for key in node if key in SPACE_KEYWORDS]
    if keywords:
        if len(node) > 1:
            others = ", ".join(repr(key) for key in node if key != keywords[0])
            raise ConfigError(path, f"a {keywords[0]!r} space must be the only key of its mapping, found also {others}")
        return keywords[0]
    if len(node) == 1:
        [(key, value)] = node.items()
        close = difflib.get_close_matches(key, SPACE_KEYWORDS, n=1, cutoff=0.8) if isinstance(key, str) else []
        if close and isinstance(value, list):
            raise ConfigError(path, f"unknown search space {key!r}; did you mean {close[0]!r}?")
    return None


def _parse_space(keyword: str, args: Any, path: str) -> Distribution:
    if keyword in ("grid", "choice"):
        return _parse_categorical(keyword, args, path)
    quantised = keyword.startswith("q")
    if not isinstance(args, list | tuple) or len(args) != (3 if quantised else 2):
        raise ConfigError(path, f"{keyword} takes {'[lo, hi, q]' if quantised else '[lo, hi]'}, got {_short(args)}")
    bounds = [_number(keyword, arg, path) for arg in args]
    low, high = bounds[:2]
    if not low < high:
        raise ConfigError(path, f"{keyword} needs lo < hi, got {list(args)}")
    if "log" in keyword and low <= 0:
        raise ConfigError(path, f"{keyword} needs 0 < lo (a log scale), got {list(args)}")
    q = bounds[2] if quantised else None
    if q is not None and q <= 0:
        raise ConfigError(path, f"{keyword} needs q > 0, got {list(args)}")
    if keyword.endswith("randint"):
        if not all(isinstance(b, Integral) for b in bounds):
            raise ConfigError(path, f"{keyword} takes integers, got {list(args)}")
        if max(abs(low), abs(high)) > _MAX_INT_BOUND:
            raise ConfigError(path, f"{keyword} bounds must be at most 2**62 in magnitude, got {list(args)}")
        distribution: Distribution = Int(int(low), int(high), int(q or 1))
    else:
        distribution = Float(float(low), float(high), log="log" in keyword, q=None if q is None else float(q))
    try:
        size = distribution.size
    except OverflowError:  # hi / q beyond the floats
        raise ConfigError(path, f"{keyword} has too many multiples of q={q} between {low} and {high}") from None
    if size == 0:
        raise ConfigError(path, f"{keyword} has no multiple of q={q} between {low} and {high}")
    return distribution


def _parse_categorical(keyword: str, args: Any, path: str) -> Categorical:
    if not isinstance(args, list | tuple) or not args:
        raise ConfigError(path, f"{keyword} takes a non-empty list of options, got {_short(args)}")
    if len(args) > MAX_OPTIONS:
        raise ConfigError(
            path,
            f"{keyword} has {len(args):,} options; at most {MAX_OPTIONS:,} (a range such as randint takes any number)",
        )
    for option in args:
        if isinstance(option, dict) and len(option) == 1 and next(iter(option)) in SPACE_KEYWORDS:
            raise ConfigError(
                path, f"an option of {keyword} cannot itself be a space; wrap it, e.g. {{name: ..., value: <space>}}"
            )
    options = tuple(_parse(option, path) for option in args)  # branch parameters nest under `path`
    labels = tuple(_label(raw, parsed, i) for i, (raw, parsed) in enumerate(zip(args, options, strict=True)))
    for i, label in enumerate(labels):
        if label in labels[:i]:
            raise ConfigError(
                path, f"two options of {keyword} are both {label!r}; options (and branch names) must be distinct"
            )
    return Categorical(options, labels, keyword)


def _label(raw: Any, parsed: Any, index: int) -> Any:
    """The parameter value standing for one option (see :class:`Categorical`)."""
    if isinstance(raw, dict):
        name = raw.get("name")
        return name if isinstance(name, str | Real) else index
    return index if next(_leaves(parsed, ""), None) is not None else raw


def _number(keyword: str, value: Any, path: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, Real):
        hint = " (YAML reads 1e-3 as text; write 1.0e-3)" if isinstance(value, str) and _is_float(value) else ""
        raise ConfigError(path, f"{keyword} bounds must be numbers, got {value!r}{hint}")
    if not math.isfinite(value):
        raise ConfigError(path, f"{keyword} bounds must be finite, got {value!r}")
    return int(value) if isinstance(value, Integral) else float(value)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _realise(node: Any, path: str, suggest: Suggest, spaced: set[int], *, build: bool = True) -> Any:
    """Plain data for ``node``, taking each parameter's value from ``suggest`` (``spaced``: see
    :func:`_spaced`; the rest is copied). ``build=False`` only calls ``suggest`` (a walk), and
    returns no data for the parts without a space."""
    if isinstance(node, Distribution):
        value = suggest(path, node)
        if isinstance(node, Categorical):
            return _realise(node.option(value), path, suggest, spaced, build=build)
        return value
    if id(node) not in spaced:
        return _copied(node) if build else None
    if isinstance(node, dict):
        return {key: _realise(value, _join(path, key), suggest, spaced, build=build) for key, value in node.items()}
    return [_realise(item, f"{path}[{i}]", suggest, spaced, build=build) for i, item in enumerate(node)]


def _copied(node: Any) -> Any:
    """A copy of plain data: every mapping and list new, so no two results share one."""
    if isinstance(node, dict):
        return {key: _copied(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copied(item) for item in node]
    return node


def _spaced(node: Any) -> set[int]:
    """The ids of the mappings and lists of a parsed template that hold a space, options of spaces
    included (the template lives as long as its :class:`SearchSpace`, so the ids stay valid): a
    walk enters only these, so it costs the parameters, not the size of the whole config."""
    found: set[int] = set()

    def holds(item: Any) -> bool:
        if isinstance(item, Distribution):
            for option in item.options if isinstance(item, Categorical) else ():
                holds(option)
            return True
        if isinstance(item, dict | list):
            children = [holds(child) for child in (item.values() if isinstance(item, dict) else item)]
            if any(children):
                found.add(id(item))
                return True
        return False

    holds(node)
    return found


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Distribution]]:
    if isinstance(node, Distribution):
        yield path, node
        for option in node.options if isinstance(node, Categorical) else ():
            yield from _leaves(option, path)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, _join(path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _leaves(item, f"{path}[{i}]")


def _size(node: Any, sizes: dict[int, int | None]) -> int | None:
    """Number of points of ``node``: options add up, mapping and list entries multiply.

    ``sizes`` caches the answer for every node below ``node`` (by ``id``), for :func:`_point`.
    """
    if isinstance(node, Distribution) and not isinstance(node, Categorical):
        size = node.size
    else:
        children = _children(node)
        counts = [_size(child, sizes) for child in children]
        known = [count for count in counts if count is not None]
        if len(known) < len(counts):
            size = None
        else:
            size = sum(known) if isinstance(node, Categorical) else math.prod(known)
    sizes[id(node)] = size
    return size


def _children(node: Any) -> list[Any]:
    """The options of a choice, the values of a mapping, the items of a list; ``[]`` otherwise."""
    if isinstance(node, Categorical):
        return list(node.options)
    if isinstance(node, dict):
        return list(node.values())
    return node if isinstance(node, list) else []


def _point(node: Any, path: str, index: int, sizes: dict[int, int], params: dict[str, Any]) -> None:
    """Record in ``params`` the parameters of point number ``index`` of ``node`` (product order).

    Mirrors the walk: a mapping's or list's entries form a mixed-radix number whose last digit
    varies fastest, a choice's points are its options' points one option after the other.
    """
    if isinstance(node, Categorical):
        for label, option in zip(node.labels, node.options, strict=True):
            count = sizes[id(option)]
            if index < count:
                params[path] = label
                _point(option, path, index, sizes, params)
                return
            index -= count
    elif isinstance(node, Distribution):
        params[path] = node.value_at(index)
    elif isinstance(node, dict | list):
        entries = list(node.items()) if isinstance(node, dict) else [(f"[{i}]", item) for i, item in enumerate(node)]
        stride = math.prod(sizes[id(item)] for _, item in entries)
        for key, item in entries:
            stride //= sizes[id(item)]
            child = f"{path}{key}" if isinstance(node, list) else _join(path, key)
            _point(item, child, index // stride % sizes[id(item)], sizes, params)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
