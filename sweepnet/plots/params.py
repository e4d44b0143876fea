"""What a figure needs to know about each searched hyperparameter: its kind, scale and values' order.

The sweep config says it (:meth:`SearchSpace.leaves`): a ``loguniform`` space is drawn on a log
axis; a ``choice`` / ``grid`` is a list of values in the order the user wrote them, except that
numbers go in increasing order and a grid of numbers spread evenly on a log scale (the classic
``np.logspace`` weight scales) gets a log axis too. A parameter the config does not describe (a
sweep whose file changed) is read off the values its trials took.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from numbers import Real
from typing import Any

from sweepnet.errors import ConfigError
from sweepnet.leaderboard import Entry, can_rank
from sweepnet.search import SearchSpace
from sweepnet.search.distributions import Categorical, Distribution

__all__ = [
    "MAX_SMALL_DISCRETE",
    "ParamAxis",
    "describe_params",
    "file_safe",
    "scored",
    "value_key",
    "value_label",
]

MAX_SMALL_DISCRETE = 10
"""Most values of a parameter compared value by value (one colour each, matplotlib's ``tab10``)."""

_INFERRED_DISCRETE = 12  # an undescribed numeric parameter with at most this many values is a grid


@dataclass(frozen=True)
class ParamAxis:
    """How one hyperparameter is drawn.

    Attributes
    ----------
    path : its dotted path, e.g. ``"solver.optim_config.learning_rate"``.
    numeric : True when its values are numbers, drawn at their value (else at their position
        in :attr:`values`, labelled).
    log : True for a log axis.
    values : the values of a discrete parameter (``choice`` / ``grid``) in natural order; empty
        for a continuous one.
    """

    path: str
    numeric: bool
    log: bool = False
    values: tuple[Any, ...] = ()

    @property
    def discrete(self) -> bool:
        """True when the parameter takes a list of values (cells of a heat map, series of a comparison)."""
        return bool(self.values)

    @property
    def small(self) -> bool:
        """True for a discrete parameter of 2 to :data:`MAX_SMALL_DISCRETE` values (one colour each)."""
        return 2 <= len(self.values) <= MAX_SMALL_DISCRETE

    @property
    def name(self) -> str:
        """The last part of the path, for titles: ``"learning_rate"``."""
        return self.path.rsplit(".", 1)[-1]

    def index(self, value: Any) -> int:
        """The position of ``value`` in :attr:`values` (-1 when it is not one of them)."""
        return self._positions.get(value_key(value), -1)

    def position(self, value: Any) -> float:
        """Where ``value`` sits on an axis: itself for numbers, its index for other values."""
        return float(value) if self.numeric else float(self.index(value))

    def labels(self) -> list[str]:
        """:attr:`values` as tick labels."""
        return [value_label(value) for value in self.values]

    @cached_property
    def _positions(self) -> dict[Any, int]:
        return {value_key(value): index for index, value in enumerate(self.values)}


def describe_params(config: Mapping[str, Any] | None, entries: Iterable[Entry]) -> dict[str, ParamAxis]:
    """Every hyperparameter that takes two or more values in ``entries``, described for drawing.

    Parameters
    ----------
    config : the sweep config with its search spaces (``SweepInfo.config``); ``None`` or ``{}``
        when unknown (then everything is read off the values).
    entries : ``(TrialSpec, TrialResult)`` pairs of the sweep.

    Returns
    -------
    ``{path: ParamAxis}`` in the order of the search space (then first-seen order).
    """
    seen: dict[str, dict[Any, Any]] = {}
    for spec, _ in entries:
        for path, value in spec.params.items():
            seen.setdefault(path, {}).setdefault(value_key(value), value)
    varying = {path: values for path, values in seen.items() if len(values) > 1}
    leaves: dict[str, list[Distribution]] = {}
    for path, distribution in _leaves(config):
        leaves.setdefault(path, []).append(distribution)
    order = [path for path in leaves if path in varying] + [path for path in varying if path not in leaves]
    return {path: _axis(path, leaves.get(path, []), list(varying[path].values())) for path in order}


def scored(entries: Iterable[Entry], metric: str) -> list[Entry]:
    """Completed or pruned trials with a finite ``metric``: the ones a figure can place."""
    return [(spec, result) for spec, result in entries if can_rank(result, metric)]


def value_key(value: Any) -> Any:
    """A hashable stand-in for a parameter value: ``1`` and ``1.0`` alike, lists by their JSON."""
    if _is_number(value):
        return float(value)
    if isinstance(value, str | bool) or value is None:
        return value
    return json.dumps(value, sort_keys=True, default=repr)


def value_label(value: Any) -> str:
    """A short label: ``0.001``, ``1e-05``, ``adam``, ``none``, ``[64, 32]``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _compact(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_label(item) for item in value) + "]"
    return str(value)


def _compact(number: float) -> str:
    """Three significant digits, the exponent short: ``0.0127``, ``1.62e-4`` (not ``0.000162``), ``1e-5``."""
    text = f"{number:.3g}"
    if 0 < abs(number) < 1e-3 and "e" not in text:
        text = f"{number:.2e}"
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return text
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def file_safe(path: str) -> str:
    """A dotted path as part of a file name: ``model.hidden_dims[0]`` -> ``model.hidden_dims.0``."""
    return "".join(c if c.isalnum() or c in "._-" else "." for c in path.replace("]", "")).strip(".")


def _leaves(config: Mapping[str, Any] | None) -> list[tuple[str, Distribution]]:
    if not config:
        return []
    try:
        return SearchSpace(dict(config)).leaves()
    except ConfigError:  # a config that is no longer valid: read the values instead
        return []


def _axis(path: str, distributions: Sequence[Distribution], observed: list[Any]) -> ParamAxis:
    """The axis of ``path`` from its distributions (several when branches share a path)."""
    categorical = [d for d in distributions if isinstance(d, Categorical)]
    if distributions and not categorical:  # ranges: continuous, log when every range is
        return ParamAxis(path, numeric=True, log=all(d.is_log for d in distributions))
    if categorical:
        values: dict[Any, Any] = {}
        for distribution in categorical:
            for label in distribution.labels:
                values.setdefault(value_key(label), label)
        for value in observed:  # e.g. a branch's range sharing the path of a choice
            values.setdefault(value_key(value), value)
        options = list(values.values())
    else:
        options = observed
        if all(_is_number(value) for value in options) and len(options) > _INFERRED_DISCRETE:
            return ParamAxis(path, numeric=True, log=_evenly_logarithmic(options))
    if all(_is_number(value) for value in options):
        ordered = tuple(sorted(options, key=float))
        return ParamAxis(path, numeric=True, log=_evenly_logarithmic(ordered), values=ordered)
    return ParamAxis(path, numeric=False, values=tuple(options))


def _evenly_logarithmic(values: Sequence[Any]) -> bool:
    """True when positive numbers spread more evenly on a log scale than on a linear one.

    Two values count as logarithmic when they are at least a factor 100 apart.
    """
    numbers = sorted({float(value) for value in values})
    if len(numbers) < 2 or numbers[0] <= 0:
        return False
    if len(numbers) == 2:
        return numbers[1] / numbers[0] >= 100
    return _spread(numbers, math.log) < _spread(numbers, float)


def _spread(numbers: Sequence[float], transform: Any) -> float:
    """Coefficient of variation of the gaps between consecutive transformed numbers."""
    points = [transform(number) for number in numbers]
    gaps = [b - a for a, b in zip(points, points[1:], strict=False)]
    return statistics.pstdev(gaps) / statistics.fmean(gaps)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)
