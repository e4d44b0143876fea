"""The base class of search algorithms: ask for a point, tell its result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from sweepnet.errors import ConfigError
from sweepnet.options import NoOptions, options_given
from sweepnet.records import TrialState
from sweepnet.search.space import SearchSpace

__all__ = ["MAX_TRIALS", "Mode", "NoOptions", "Searcher", "check_mode"]

Mode = Literal["max", "min"]

MAX_TRIALS = 100_000
"""Most trials one sweep may run: the points of a grid, ``search.num_samples``."""


class Searcher(ABC):
    """Proposes the points of a sweep, one :meth:`ask` at a time.

    Subclasses set ``Options`` (a pydantic model of their config keys, ``extra="forbid"``) and
    implement :meth:`ask`; those that learn from results override :meth:`tell`. The driver stops
    asking when :meth:`ask` returns None or its :class:`~sweepnet.search.StopCriteria` say so.

    Resuming relies on two properties every searcher keeps: the same ``space`` and ``seed`` give
    the same sequence of points when no result is told (so the driver can skip finished ones),
    and :meth:`tell` accepts results for points this instance never asked (re-fed from disk).

    Parameters
    ----------
    space : the parsed search space.
    seed : makes the sequence of points reproducible; None draws fresh entropy.
    metric, mode : the optimised metric, e.g. ``"val_acc"`` with ``"max"``.
    options : an instance of ``Options``, as the plan validated it from ``search.options``; or
    **keys : searcher-specific keys, validated by ``Options`` here (when built directly).
    """

    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        metric: str,
        mode: Mode,
        options: BaseModel | None = None,
        **keys: Any,
    ) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ConfigError("seed", f"must be a non-negative integer, got {seed!r}")
        self.space = space
        self.seed = seed
        self.metric = metric
        self.mode = check_mode(mode)
        self.options = options_given(self.Options, options, keys, "searcher")

    @property
    def total(self) -> int | None:
        """How many points :meth:`ask` hands out before returning None; None when unbounded."""
        return None

    @abstractmethod
    def ask(self) -> dict[str, Any] | None:
        """The next point as flat params ``{dotted path: value}``, or None when exhausted."""

    def tell(self, params: dict[str, Any], value: float | None, state: TrialState) -> None:  # noqa: B027 -- optional
        """Learn the final ``value`` of ``metric`` (None when there is none) of the trial at ``params``.

        The default ignores results: grid and random search do not adapt.
        """


def check_mode(mode: str) -> Mode:
    """``mode`` itself when it is ``"max"`` or ``"min"``; raises :class:`ConfigError` otherwise."""
    if mode not in ("max", "min"):
        raise ConfigError("mode", f"must be 'max' or 'min', got {mode!r}")
    return mode  # type: ignore[return-value]
