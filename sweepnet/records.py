"""Records that flow between the searcher, the scheduler, the trial runner and the tracker."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a trial worker imports this module before anything heavy (see scheduler.py)
    import numpy as np

    from sweepnet.data.dataset import DatasetMeta

__all__ = ["SweepInfo", "TrialResult", "TrialSpec", "TrialState"]


class TrialState(str, enum.Enum):  # noqa: UP042 -- StrEnum would change str(state) and format(state)
    """A trial's state as recorded: RUNNING while it runs, then one of the last five, which end it
    (a KILLED trial runs again on resume). Where a trial of a running sweep stands before and
    between its attempts is :class:`sweepnet.rules.TrialStage`."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    PRUNED = "PRUNED"
    DIVERGED = "DIVERGED"  # non-finite or exploding loss
    FAILED = "FAILED"  # exception, after retries
    KILLED = "KILLED"  # interrupted (Ctrl-C); re-run on resume

    @property
    def is_finished(self) -> bool:
        """True for states a resumed sweep must not run again."""
        return self in (TrialState.COMPLETED, TrialState.PRUNED, TrialState.DIVERGED, TrialState.FAILED)


@dataclass(frozen=True)
class TrialSpec:
    """One point of the search space, ready to run.

    Attributes
    ----------
    trial_id : stable hash of the resolved config and seed (same point -> same id).
    number : 0-based order in which the searcher produced it.
    params : the sampled hyperparameters, flat, keyed by dotted config path
        (``{"solver.optim_config.learning_rate": 1e-3, ...}``).
    config : the complete resolved sweep config of this trial (no spaces left), as plain data.
    seed : the trial's own seed, derived from the sweep seed and ``trial_id``.
    """

    trial_id: str
    number: int
    params: dict[str, Any]
    config: dict[str, Any]
    seed: int


@dataclass
class TrialResult:
    """What a finished (or interrupted) trial produced.

    Attributes
    ----------
    metrics : final metrics, e.g. ``val_acc`` / ``test_acc`` of the restored best parameters
        (or ``val_rmse`` / ``test_rmse`` for regression; ``val_acc_mean`` / ``val_acc_std``
        for cross-validated trials).
    history : one dict per epoch (``epoch``, ``loss``, ``train_acc``, ``val_acc``, ``lr`` ...).
    iteration_loss : ``(K, 2)`` float32 rows ``(iteration, loss)``: the training loss of every
        iteration (1-based), evenly thinned to at most 1000 rows; None when not recorded.
    weights : the trained (best) parameters, name -> array; ``None`` when not kept.
    model_state : what the model predicts with besides ``weights``, at the same epoch (batchnorm
        running statistics, see :mod:`sweepnet.core.model_state`), name -> array; ``None`` when
        not kept.
    error : traceback text of a FAILED trial, reason of a DIVERGED or KILLED one.
    node, worker : where its last attempt ran (Ray node, worker process).
    retries : how often it was re-run because its worker died.
    """

    trial_id: str
    state: TrialState
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    duration_s: float = 0.0
    weights: dict[str, np.ndarray] | None = None
    error: str | None = None
    node: str | None = None
    worker: str | None = None
    retries: int = 0
    model_state: dict[str, np.ndarray] | None = None
    iteration_loss: np.ndarray | None = None


@dataclass(frozen=True)
class SweepInfo:
    """A sweep invocation as the lifecycle hooks see it.

    Attributes
    ----------
    name : the sweep's ``name`` (the MLflow experiment).
    config : the validated sweep config (search spaces included), as plain data.
    config_text : the sweep file as the user wrote it ("" when built in code).
    metric, mode : what is optimised, e.g. ``"val_acc"``, ``"max"``.
    resumed : True when continuing an earlier invocation.
    overrides : the ``--set`` overrides applied on top of ``config_text``, in order.
    data_meta : the sweep's data set (input shape, task), known once it is loaded; a resumed
        invocation with nothing left to run loads none: it has the meta recorded (without
        ``preprocessing``) or None.
    nothing_left : True for a resumed invocation with no trial left to run: its start and end
        hooks run with no trial between (a record that is complete may stand as it is).
    """

    name: str
    config: dict[str, Any]
    config_text: str
    metric: str
    mode: str
    resumed: bool = False
    overrides: tuple[str, ...] = ()
    data_meta: DatasetMeta | None = None
    nothing_left: bool = False
