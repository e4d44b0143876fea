"""The leaves of a search space: one small value object per kind of distribution.

=====================================  ===============================================
grammar (YAML)                         object
=====================================  ===============================================
``{uniform: [lo, hi]}``                ``Float(lo, hi)``
``{loguniform: [lo, hi]}``             ``Float(lo, hi, log=True)``
``{quniform: [lo, hi, q]}``            ``Float(lo, hi, q=q)``
``{qloguniform: [lo, hi, q]}``         ``Float(lo, hi, log=True, q=q)``
``{randint: [lo, hi]}``                ``Int(lo, hi)`` -- ``hi`` is included, as in Optuna
``{qrandint: [lo, hi, q]}``            ``Int(lo, hi, q=q)``
``{choice: [...]}`` / ``{grid: [...]}``  ``Categorical(options, labels, keyword)``
=====================================  ===============================================

Quantised distributions (``q...``) take the multiples of ``q`` that lie in ``[lo, hi]``, as in
hyperopt and Ray Tune (not Optuna's ``lo + k * q``): ``{quniform: [0.05, 0.5, 0.1]}`` is
``0.1, 0.2, ..., 0.5``. Values handed out are plain Python ``int`` / ``float`` / config values,
never numpy scalars, so they serialise to YAML, JSON and MLflow params unchanged.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = ["Categorical", "Distribution", "Float", "Int"]

_TOLERANCE = 1e-9  # relative slack when deciding whether a float is a multiple of q


class Distribution(ABC):
    """The set of values one search parameter can take.

    Attributes
    ----------
    keyword : the grammar key that produced it, e.g. ``"loguniform"``.
    is_log : True when the parameter is naturally viewed on a log axis (``loguniform`` ...).
    is_finite : True when :meth:`values` can list every value.
    """

    keyword: str
    is_log: bool = False
    is_finite: bool = True

    @abstractmethod
    def contains(self, value: Any) -> bool:
        """True when ``value`` is one of the values of this distribution."""

    @abstractmethod
    def values(self) -> tuple[Any, ...]:
        """Every value, in increasing (or config) order; raises ``TypeError`` when not finite."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn with ``rng``: uniformly, on a log scale when :attr:`is_log`."""

    @property
    def size(self) -> int | None:
        """How many values there are, counted without listing them; None when not finite."""
        return len(self.values()) if self.is_finite else None

    def value_at(self, index: int) -> Any:
        """``values()[index]``, without listing the values where the subclass can."""
        return self.values()[index]


@dataclass(frozen=True)
class Float(Distribution):
    """Real numbers in ``[low, high]``; with ``q``, the multiples of ``q`` in that range."""

    low: float
    high: float
    log: bool = False
    q: float | None = None

    @property
    def keyword(self) -> str:  # type: ignore[override]
        return ("q" if self.q is not None else "") + ("loguniform" if self.log else "uniform")

    @property
    def is_log(self) -> bool:  # type: ignore[override]
        return self.log

    @property
    def is_finite(self) -> bool:  # type: ignore[override]
        return self.q is not None

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            return False
        number = float(value)
        if self.q is None:
            return self.low <= number <= self.high
        first, last = _multiples(self.low, self.high, self.q)
        k = round(number / self.q)
        return first <= k <= last and math.isclose(number / self.q, k, rel_tol=_TOLERANCE)

    def values(self) -> tuple[float, ...]:
        if self.q is None:
            raise TypeError(f"{self} is continuous and has no finite list of values")
        first, last = _multiples(self.low, self.high, self.q)
        return tuple(_tidy(k * self.q) for k in range(first, last + 1))

    @property
    def size(self) -> int | None:
        if self.q is None:
            return None
        first, last = _multiples(self.low, self.high, self.q)
        return max(0, last - first + 1)

    def value_at(self, index: int) -> float:
        size = self.size
        if self.q is None or size is None or not 0 <= index < size:
            raise IndexError(f"{self} has no value number {index}")
        return _tidy((_multiples(self.low, self.high, self.q)[0] + index) * self.q)

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return self.nearest(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return self.nearest(rng.uniform(self.low, self.high))

    def nearest(self, x: float) -> float:
        """The value of this distribution closest to ``x`` (clipped into range, rounded to ``q``)."""
        if self.q is None:
            return float(min(max(x, self.low), self.high))
        first, last = _multiples(self.low, self.high, self.q)
        return _tidy(min(max(round(x / self.q), first), last) * self.q)

    def __str__(self) -> str:
        bounds = [self.low, self.high] + ([self.q] if self.q is not None else [])
        return f"{self.keyword}{bounds}"


@dataclass(frozen=True)
class Int(Distribution):
    """Integers in ``[low, high]``, both ends included; with ``q``, only the multiples of ``q``."""

    low: int
    high: int
    q: int = 1

    @property
    def keyword(self) -> str:  # type: ignore[override]
        return "randint" if self.q == 1 else "qrandint"

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, Integral)
            and not isinstance(value, bool)
            and self.low <= int(value) <= self.high
            and int(value) % self.q == 0
        )

    def values(self) -> tuple[int, ...]:
        first, last = _multiples(self.low, self.high, self.q)
        return tuple(range(first * self.q, last * self.q + 1, self.q))

    @property
    def size(self) -> int:
        first, last = _multiples(self.low, self.high, self.q)
        return max(0, last - first + 1)

    def value_at(self, index: int) -> int:
        if not 0 <= index < self.size:
            raise IndexError(f"{self} has no value number {index}")
        return (_multiples(self.low, self.high, self.q)[0] + index) * self.q

    def sample(self, rng: np.random.Generator) -> int:
        first, last = _multiples(self.low, self.high, self.q)
        return int(rng.integers(first, last + 1)) * self.q

    def nearest(self, x: float) -> int:
        """The value of this distribution closest to ``x`` (clipped into range, rounded to ``q``)."""
        first, last = _multiples(self.low, self.high, self.q)
        return min(max(round(x / self.q), first), last) * self.q

    def __str__(self) -> str:
        bounds = [self.low, self.high] + ([self.q] if self.q != 1 else [])
        return f"{self.keyword}{bounds}"


@dataclass(frozen=True)
class Categorical(Distribution):
    """One of a list of options (``choice`` and ``grid`` alike).

    Attributes
    ----------
    options : the options as parsed; an option may hold further distributions (a conditional
        branch), e.g. ``{"name": "sgd_momentum", "momentum": Float(0.5, 0.99)}``.
    labels : the parameter value that stands for each option: the option itself when it is
        plain data, a mapping's ``name`` (else its index), the index of any other option that
        holds distributions.
    keyword : ``"choice"`` or ``"grid"``; searchers other than ``grid`` treat both alike.
    """

    options: tuple[Any, ...]
    labels: tuple[Any, ...]
    keyword: str = "choice"

    def contains(self, value: Any) -> bool:
        return value in self.labels

    def values(self) -> tuple[Any, ...]:
        return self.labels

    def sample(self, rng: np.random.Generator) -> Any:
        return self.labels[int(rng.integers(len(self.labels)))]

    def option(self, label: Any) -> Any:
        """The (parsed) option that ``label`` stands for."""
        return self.options[self.labels.index(label)]

    def __str__(self) -> str:
        return f"{self.keyword}{list(self.labels)}"


def _multiples(low: float, high: float, q: float) -> tuple[int, int]:
    """``(first, last)`` such that ``first * q ... last * q`` are the multiples of ``q`` in ``[low, high]``."""
    return _ceil(low / q), _floor(high / q)


def _ceil(x: float) -> int:
    """``ceil(x)``, except that a float a hair above an integer (``2.0000000000000004``) rounds down."""
    k = round(x)
    return k if math.isclose(x, k, rel_tol=_TOLERANCE) else math.ceil(x)


def _floor(x: float) -> int:
    """``floor(x)``, except that a float a hair below an integer (``2.9999999999999996``) rounds up."""
    k = round(x)
    return k if math.isclose(x, k, rel_tol=_TOLERANCE) else math.floor(x)


def _tidy(x: float) -> float:
    """``k * q`` without binary noise: ``3 * 0.1`` gives ``0.3``, not ``0.30000000000000004``."""
    return float(f"{x:.12g}")
