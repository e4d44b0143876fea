"""The median stopping rule."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sweepnet.search.pruner import Pruner
from sweepnet.search.searcher import Mode

__all__ = ["MedianPruner"]


class MedianPruner(Pruner):
    """Stops a trial whose value is worse than the median of the other trials at the same epoch.

    Only after ``warmup_epochs`` epochs, and only once at least ``min_trials`` other trials have
    reported that epoch. "Other trials" are all of them, running ones included, unlike Optuna's
    ``MedianPruner`` (completed trials only), so that a sweep with a few concurrent workers
    starts pruning before whole trials have finished.
    """

    class Options(BaseModel):
        """Config keys of ``median``."""

        model_config = ConfigDict(extra="forbid")
        warmup_epochs: int = Field(1, ge=0)
        min_trials: int = Field(3, ge=1)

    options: Options

    def __init__(self, *, metric: str, mode: Mode, max_epochs: int, **options: Any) -> None:
        super().__init__(metric=metric, mode=mode, max_epochs=max_epochs, **options)
        self._scores: defaultdict[int, dict[str, float]] = defaultdict(dict)  # epoch -> trial -> score

    def report(self, trial_id: str, epoch: int, value: float) -> bool:
        at_epoch = self._scores[epoch]
        at_epoch[trial_id] = score = self._score(value)
        others = [s for other, s in at_epoch.items() if other != trial_id]
        if epoch <= self.options.warmup_epochs or len(others) < self.options.min_trials:
            return False
        return score < statistics.median(others)
