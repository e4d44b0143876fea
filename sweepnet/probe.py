"""Probe points: a few points of a search space that together take every extreme value.

A sweep must fail before its first trial when some value of a space is invalid (a learning rate
``{uniform: [-1, 1]}``, a hidden size ``{randint: [0, 8]}``). Validating every point is
impossible, but a value is typically invalid because it lies beyond a bound, so it suffices to try
each end of every range and each option of every ``choice``/``grid``. The probe points are a base
point (every parameter at its first candidate) and, for every parameter and each of its other
candidates, the base point with that one parameter changed -- taking the branches that lead to it,
so parameters of conditional branches are probed too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sweepnet.search import Categorical, Distribution, Float, Int, SearchSpace

__all__ = ["Probe", "candidates", "probe_points"]


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

        E.g. ``"the search space uniform[-1.0, 1.0] allows -1.0"`` for an error at that space.
        """
        owners = [p for p in self.params if path == p or path.startswith((f"{p}.", f"{p}["))]
        if not owners:
            return ""
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
    """The base point, then every candidate of every parameter (points seen before skipped)."""
    seen: set[str] = set()
    # Every candidate, first ones included: a parameter inside a branch the base point does not
    # take gets its first candidate probed only here.
    targets = [(None, None)] + [
        (distribution, value) for _, distribution in space.leaves() for value in candidates(distribution)
    ]
    for target, value in targets:
        probe = _walk(space, target, value)
        key = json.dumps(probe.params, sort_keys=True, default=repr)
        if key not in seen:
            seen.add(key)
            yield probe


def _walk(space: SearchSpace, target: Distribution | None, value: Any) -> Probe:
    """The point taking ``value`` for ``target``, the branches leading to it, else first candidates."""
    distributions: dict[str, Distribution] = {}

    def suggest(path: str, distribution: Distribution) -> Any:
        distributions[path] = distribution
        if distribution is target:
            return value
        if isinstance(distribution, Categorical):
            for label, option in zip(distribution.labels, distribution.options, strict=True):
                if _holds(option, target):
                    return label
        return candidates(distribution)[0]

    return Probe(space.walk(suggest), distributions)


def _holds(node: Any, target: Distribution | None) -> bool:
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
