"""When a sweep stops asking for new trials: sample count, time budget, target metric."""

from __future__ import annotations

from dataclasses import dataclass

from sweepnet.errors import ConfigError
from sweepnet.search.searcher import Mode, check_mode

__all__ = ["StopCriteria"]


@dataclass(frozen=True)
class StopCriteria:
    """The generic stopping rules of a sweep; any rule that is not None can stop it.

    They decide when to stop *starting* trials; trials already running finish. A searcher with a
    finite ``total`` (grid) also stops when exhausted, so a grid needs none of these.

    Attributes
    ----------
    num_samples : start at most this many trials.
    time_budget_s : start no trial once this many seconds have passed since the sweep started.
    target : stop once the best value reaches it (``>=`` when ``mode`` is ``"max"``, ``<=`` for ``"min"``).
    mode : direction of the optimised metric.
    """

    num_samples: int | None = None
    time_budget_s: float | None = None
    target: float | None = None
    mode: Mode = "max"

    def __post_init__(self) -> None:
        if self.num_samples is not None and (isinstance(self.num_samples, bool) or self.num_samples < 1):
            raise ConfigError("num_samples", f"must be a positive integer, got {self.num_samples!r}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ConfigError("time_budget_s", f"must be a positive number of seconds, got {self.time_budget_s!r}")
        check_mode(self.mode)

    def should_stop(self, num_started: int, elapsed: float, best: float | None) -> bool:
        """True when no further trial should be started.

        Parameters
        ----------
        num_started : trials started so far (including finished ones, and re-fed ones on resume).
        elapsed : seconds since the sweep started.
        best : best value of the metric so far, None before the first result.
        """
        if self.num_samples is not None and num_started >= self.num_samples:
            return True
        if self.time_budget_s is not None and elapsed >= self.time_budget_s:
            return True
        if self.target is None or best is None:
            return False
        return best >= self.target if self.mode == "max" else best <= self.target
