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
from typing import Any

from sweepnet.errors import ConfigError
from sweepnet.search.distributions import Categorical, Distribution, Float, Int

__all__ = ["SPACE_KEYWORDS", "SearchSpace", "Suggest"]

SPACE_KEYWORDS = ("grid", "choice", "uniform", "loguniform", "randint", "quniform", "qloguniform", "qrandint")

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

        _realise(self._template, "", record)
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

        config = _realise(self._template, "", lookup)
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
        """Number of distinct points when every distribution is finite, else None."""
        return _size(self._template)


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
        raise ConfigError(path, f"{keyword} takes {'[lo, hi, q]' if quantised else '[lo, hi]'}, got {args!r}")
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
        distribution: Distribution = Int(int(low), int(high), int(q or 1))
    else:
        distribution = Float(float(low), float(high), log="log" in keyword, q=None if q is None else float(q))
    if distribution.is_finite and not distribution.values():
        raise ConfigError(path, f"{keyword} has no multiple of q={q} between {low} and {high}")
    return distribution


def _parse_categorical(keyword: str, args: Any, path: str) -> Categorical:
    if not isinstance(args, list | tuple) or not args:
        raise ConfigError(path, f"{keyword} takes a non-empty list of options, got {args!r}")
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


def _realise(node: Any, path: str, suggest: Suggest) -> Any:
    """Plain data for ``node``, taking each parameter's value from ``suggest``."""
    if isinstance(node, Distribution):
        value = suggest(path, node)
        if isinstance(node, Categorical):
            return _realise(node.option(value), path, suggest)
        return value
    if isinstance(node, dict):
        return {key: _realise(value, _join(path, key), suggest) for key, value in node.items()}
    if isinstance(node, list):
        return [_realise(item, f"{path}[{i}]", suggest) for i, item in enumerate(node)]
    return node


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


def _size(node: Any) -> int | None:
    """Number of points of ``node``: options add up, mapping and list entries multiply."""
    if isinstance(node, Distribution) and not isinstance(node, Categorical):
        return len(node.values()) if node.is_finite else None
    if isinstance(node, Categorical):
        children: Any = node.options
    else:
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    sizes = [size for size in map(_size, children) if size is not None]
    if len(sizes) < len(children):
        return None
    return sum(sizes) if isinstance(node, Categorical) else math.prod(sizes)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
