"""The base class of pruners (early-stopping rules) and the pruner that never prunes."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any, ClassVar

from pydantic import BaseModel

from sweepnet.errors import ConfigError
from sweepnet.options import NoOptions, options_given
from sweepnet.records import TrialState
from sweepnet.search.searcher import Mode, check_mode

__all__ = ["NoPruner", "Pruner"]


class Pruner(ABC):
    """Decides, epoch by epoch, whether a running trial should stop early.

    The driver calls :meth:`report` after every epoch of every trial, in whatever order the
    concurrent trials finish their epochs, and :meth:`complete` once a trial is over. A resumed
    sweep re-feeds the histories of finished trials the same way (ignoring the answers), so
    pruners keep no other state.

    Parameters
    ----------
    metric, mode : the reported metric, e.g. ``"val_acc"`` with ``"max"``.
    max_epochs : epochs of a trial that is never pruned.
    options : an instance of ``Options``, as the plan validated it from the ``pruner:`` section; or
    **keys : pruner-specific keys, validated by ``Options`` here (when built directly).
    """

    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(
        self, *, metric: str, mode: Mode, max_epochs: int, options: BaseModel | None = None, **keys: Any
    ) -> None:
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise ConfigError("max_epochs", f"must be a positive integer, got {max_epochs!r}")
        self.metric = metric
        self.mode = check_mode(mode)
        self.max_epochs = max_epochs
        self.options = options_given(self.Options, options, keys, "pruner")

    @abstractmethod
    def report(self, trial_id: str, epoch: int, value: float) -> bool:
        """Record ``value`` of ``metric`` after ``epoch`` (1-based) of trial ``trial_id``.

        Returns
        -------
        True when the trial should stop now (it becomes PRUNED).
        """

    def decision_epochs(self, trial_id: str) -> Collection[int] | None:
        """The epochs after which :meth:`report` may stop trial ``trial_id``; None: any epoch.

        A worker waits for the driver's answer after these epochs only (a round trip of a few
        milliseconds each) and streams its other reports without waiting. Should :meth:`report`
        stop a trial after another epoch, the trial stops at the next of these epochs.
        """
        return None

    def complete(self, trial_id: str, state: TrialState) -> None:  # noqa: B027 -- optional: most pruners need no end
        """Trial ``trial_id`` ended in ``state``.

        The built-in pruners keep every value they were shown whatever the final state: a pruned
        or failed trial's partial curve is still evidence about the others.
        """

    def _score(self, value: float) -> float:
        """``value`` oriented so that higher is better; a non-finite value scores worst."""
        if not math.isfinite(value):
            return -math.inf
        return value if self.mode == "max" else -value


class NoPruner(Pruner):
    """Never stops a trial early."""

    def report(self, trial_id: str, epoch: int, value: float) -> bool:
        return False

    def decision_epochs(self, trial_id: str) -> Collection[int]:
        return ()
