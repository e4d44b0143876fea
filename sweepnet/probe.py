"""Probe points: a few points of a search space that together take every extreme value.

A sweep must fail before its first trial when some value of a space is invalid (a learning rate
``{uniform: [-1, 1]}``, a hidden size ``{randint: [0, 8]}``). Validating every point is
impossible, but a value is typically invalid because it lies beyond a bound, so it suffices to try
each end of every range and each option of every ``choice``/``grid``. The probe points are a base
point (every parameter at its first candidate) and, for every parameter and each of its other
candidates, the base point with that one parameter changed -- taking the branches that lead to it,
so parameters of conditional branches are probed too. One more point, the high corner, takes the
high end of every range and the largest option of every choice of numbers at once: the largest
model of those parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sweepnet.errors import ConfigError
from sweepnet.search import Categorical, Distribution, Float, Int, SearchSpace

__all__ = ["MAX_PROBES", "Probe", "candidates", "probe_points"]

MAX_PROBES = 2000
"""Most probe points of a sweep: each is validated, and its model built, before the first trial."""
_HIGH_CORNER = object()  # the target of the probe that takes every parameter's highest value


@dataclass(frozen=True)
class Probe:
    """One probe point.

    Attributes
    ----------
    params : the point, ``{dotted path: value}``.
    distributions : the distribution of every parameter of ``params``.
    """

    params: dict[str, Any]
    distributions: dict[str, Distribution] = field(repr=False)

    def describe(self, path: str) -> str:
        """Which value of which space the point takes at (or above) config path ``path``, or ``""``.

        E.g. ``"the search space uniform[-1.0, 1.0] allows -1.0"`` for an error at that space, or
        ``"at model.hidden_dims[0] = 40000, model.hidden_dims[1] = 40000"`` for an error about the
        section holding those parameters.
        """
        owners = [p for p in self.params if path == p or path.startswith((f"{p}.", f"{p}["))]
        if not owners:  # an error about a whole section: name the searched values inside it
            inside = [f"{p} = {value!r}" for p, value in self.params.items() if p.startswith((f"{path}.", f"{path}["))]
            return f"at {', '.join(inside)}" if inside else ""
        owner = max(owners, key=len)
        where = "" if owner == path else f" at {owner}"
        return f"the search space {self.distributions[owner]}{where} allows {self.params[owner]!r}"


def candidates(distribution: Distribution) -> tuple[Any, ...]:
    """The values probed for one distribution: every option, or both ends of a range."""
    if isinstance(distribution, Categorical):
        return distribution.values()
    assert isinstance(distribution, Float | Int)
    ends = (distribution.nearest(distribution.low), distribution.nearest(distribution.high))
    return ends[:1] if ends[0] == ends[1] else ends


def probe_points(space: SearchSpace) -> Iterator[Probe]:
    """The base point, the high corner, then every candidate of every parameter (points seen
    before skipped).

    The high corner takes the high end of every range, and the largest option of every choice of
    numbers, at once: model sizes grow with each of their options, so it holds the largest model
    that no single-parameter probe reaches (``hidden_dims: [{randint: [1, 40000]}, {randint:
    [1, 40000]}]``). A choice of other values keeps its first option there.

    Raises
    ------
    ConfigError
        when the space has more than :data:`MAX_PROBES` candidates, naming its largest space.
    """
    leaves = [(path, distribution, candidates(distribution)) for path, distribution in space.leaves()]
    count = 2 + sum(len(values) for _, _, values in leaves)
    if count > MAX_PROBES:
        path = max(leaves, key=lambda leaf: len(leaf[2]))[0]
        raise ConfigError(
            path,
            f"the search spaces have {count - 2:,} options and range ends in all; at most {MAX_PROBES - 2:,} "
            "are checked before a sweep (use ranges such as randint rather than long lists)",
        )
    seen: set[str] = set()
    # Every candidate, first ones included: a parameter inside a branch the base point does not
    # take gets its first candidate probed only here.
    targets = [(None, None), (_HIGH_CORNER, None)] + [
        (distribution, value) for _, distribution, values in leaves for value in values
    ]
    for target, value in targets:
        probe = _walk(space, target, value)
        key = json.dumps(probe.params, sort_keys=True, default=repr)
        if key not in seen:
            seen.add(key)
            yield probe


def _walk(space: SearchSpace, target: Distribution | object | None, value: Any) -> Probe:
    """The point taking ``value`` for ``target``, the branches leading to it, else first candidates."""
    distributions: dict[str, Distribution] = {}

    def suggest(path: str, distribution: Distribution) -> Any:
        distributions[path] = distribution
        if distribution is target:
            return value
        if target is _HIGH_CORNER:
            return _highest(distribution)
        if isinstance(distribution, Categorical):
            for label, option in zip(distribution.labels, distribution.options, strict=True):
                if _holds(option, target):
                    return label
        return candidates(distribution)[0]

    return Probe(space.walk(suggest), distributions)


def _highest(distribution: Distribution) -> Any:
    """The high end of a range, the largest option of a choice of numbers, else the first option."""
    values = candidates(distribution)
    if not isinstance(distribution, Categorical):
        return values[-1]
    numbers = all(isinstance(value, int | float) and not isinstance(value, bool) for value in values)
    return max(values) if numbers else values[0]


def _holds(node: Any, target: Distribution | object | None) -> bool:
    """True when parsed config ``node`` contains the distribution ``target`` (by identity)."""
    if target is None:
        return False
    if node is target:
        return True
    if isinstance(node, Categorical):
        return any(_holds(option, target) for option in node.options)
    if isinstance(node, dict):
        return any(_holds(value, target) for value in node.values())
    if isinstance(node, list | tuple):
        return any(_holds(item, target) for item in node)
    return False
