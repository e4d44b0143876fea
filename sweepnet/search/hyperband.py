"""Asynchronous Hyperband: several ASHA brackets with different grace periods."""

from __future__ import annotations

import bisect
import itertools
import math
import zlib
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sweepnet.errors import ConfigError
from sweepnet.search.asha import Rungs
from sweepnet.search.pruner import Pruner
from sweepnet.search.searcher import Mode

__all__ = ["HyperbandPruner"]


class HyperbandPruner(Pruner):
    """ASHA brackets that hedge against a too-aggressive grace period.

    Bracket ``s`` has grace period ``grace_period * eta**s``: bracket 0 is plain ASHA, the last
    one (with the default ``brackets``) has no rung and never prunes. Each trial belongs to one
    bracket, chosen from a CRC32 of its id (the same trial always lands in the same bracket,
    whatever the order of arrival or the process), with Hyperband's proportions: bracket ``s``
    receives a share ``ceil(B * eta**r / (r + 1))`` where ``r`` is its number of rungs and ``B``
    the number of brackets -- more trials where more of them are stopped early. Trials compete
    only with trials of their own bracket.
    """

    class Options(BaseModel):
        """Config keys of ``hyperband``."""

        model_config = ConfigDict(extra="forbid")
        grace_period: int = Field(1, ge=1, description="epochs before the first rung of bracket 0")
        reduction_factor: int = Field(3, ge=2, description="eta of every bracket")
        brackets: int | None = Field(None, ge=1, description="number of brackets; None for all")

    options: Options

    def __init__(self, *, metric: str, mode: Mode, max_epochs: int, **options: Any) -> None:
        super().__init__(metric=metric, mode=mode, max_epochs=max_epochs, **options)
        grace, eta = self.options.grace_period, self.options.reduction_factor
        most = len(Rungs(grace, eta, max_epochs).milestones) + 1
        count = self.options.brackets or most
        if count > most:
            raise ConfigError("pruner.brackets", f"at most {most} brackets fit in {max_epochs} epochs, got {count}")
        self.brackets = [Rungs(grace * eta**s, eta, max_epochs) for s in range(count)]
        shares = [math.ceil(count * eta ** len(b.milestones) / (len(b.milestones) + 1)) for b in self.brackets]
        self._bounds = list(itertools.accumulate(shares))

    def bracket(self, trial_id: str) -> int:
        """Index of the bracket trial ``trial_id`` belongs to (stable across runs)."""
        return bisect.bisect_right(self._bounds, zlib.crc32(trial_id.encode()) % self._bounds[-1])

    def report(self, trial_id: str, epoch: int, value: float) -> bool:
        return self.brackets[self.bracket(trial_id)].report(trial_id, epoch, self._score(value))

    def decision_epochs(self, trial_id: str) -> Collection[int]:
        return self.brackets[self.bracket(trial_id)].milestones
