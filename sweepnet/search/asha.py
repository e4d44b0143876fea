"""Asynchronous successive halving (ASHA, Li et al. 2020) as a stopping rule."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sweepnet.search.pruner import Pruner
from sweepnet.search.searcher import Mode

__all__ = ["ASHAPruner", "Rungs"]


class Rungs:
    """The rungs of one successive-halving bracket and the scores recorded at each.

    Rungs sit at ``grace_period * reduction_factor**k`` epochs, below ``max_epochs`` (a trial
    that reaches ``max_epochs`` ends anyway). When a trial reaches a rung its score is recorded
    there, and it continues only if it ranks in the top ``1 / reduction_factor`` of the scores
    recorded at that rung so far, its own included; rounded down, but the best so far always
    continues (so the first trials are not stopped for lack of competition). Ties continue; a
    non-finite value (scored ``-inf``) never does. Scores are oriented: higher is better.
    """

    def __init__(self, grace_period: int, reduction_factor: int, max_epochs: int) -> None:
        self.reduction_factor = reduction_factor
        self.max_epochs = max_epochs
        self.milestones: list[int] = []
        milestone = grace_period
        while milestone < max_epochs:
            self.milestones.append(milestone)
            milestone *= reduction_factor
        self._recorded: dict[int, dict[str, float]] = {m: {} for m in self.milestones}

    def report(self, trial_id: str, epoch: int, score: float) -> bool:
        """Record ``score`` at the highest rung ``epoch`` has reached; True when the trial must stop.

        A trial that skipped a rung (reports every few epochs) is judged at the next one it
        reaches; a rung already holding the trial (a retry re-reporting) decides nothing, nor does
        the last epoch (the trial is complete, not pruned).
        """
        reached = [m for m in self.milestones if m <= epoch]
        if not reached or epoch >= self.max_epochs or trial_id in self._recorded[reached[-1]]:
            return False
        recorded = self._recorded[reached[-1]]
        recorded[trial_id] = score
        keep = max(1, len(recorded) // self.reduction_factor)
        cutoff = sorted(recorded.values(), reverse=True)[keep - 1]
        return score < cutoff or score == -math.inf


class ASHAPruner(Pruner):
    """Asynchronous successive halving: stop trials outside the top 1/eta at each rung.

    With the defaults (rungs at epochs 1, 3, 9 of 27, ``eta = 3``) about a third of the trials
    pass each rung. The rule judges each trial against those recorded before it, so it works
    best when trials arrive in random order -- the reason the grid searcher shuffles by default.
    """

    class Options(BaseModel):
        """Config keys of ``asha``."""

        model_config = ConfigDict(extra="forbid")
        grace_period: int = Field(1, ge=1, description="epochs before the first rung")
        reduction_factor: int = Field(3, ge=2, description="eta: 1/eta of the trials pass each rung")

    options: Options

    def __init__(self, *, metric: str, mode: Mode, max_epochs: int, **options: Any) -> None:
        super().__init__(metric=metric, mode=mode, max_epochs=max_epochs, **options)
        self.rungs = Rungs(self.options.grace_period, self.options.reduction_factor, max_epochs)

    def report(self, trial_id: str, epoch: int, value: float) -> bool:
        return self.rungs.report(trial_id, epoch, self._score(value))

    def decision_epochs(self, trial_id: str) -> Collection[int]:
        return self.rungs.milestones
