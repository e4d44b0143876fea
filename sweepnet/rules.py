"""The rules of one sweep invocation, independent of where its trials run.

:class:`SweepRules` holds every rule of the sweep loop that is not about Ray: it keeps one
:class:`TrialRecord` per trial with an explicit :class:`TrialStage`, and one queue of the trials to
hand out (retries first, then trials given back, then new points asked from the searcher, skipping
finished ones); it decides whether a trial may wait on a worker behind another, applies the stop
criteria, answers per-epoch reports with the pruner's decision, retries a trial whose worker died,
re-feeds the finished trials of a resumed sweep to the searcher and pruner, and calls the lifecycle
hooks. :mod:`sweepnet.scheduler` moves trials to workers and events back::

    rules = SweepRules(bound, hook=hook, history=history)
    rules.begin()                                    # sweepnet_sweep_start
    handout = rules.next_trial(workers=2)            # None: nothing to start now
    rules.started(handout.spec.trial_id, node="10.0.0.2/1a2b3c4d", worker="pid 4242")
    stop = rules.reported(handout.spec.trial_id, 1, {"loss": 2.1, "val_acc": 0.4})
    rules.ended(handout.spec.trial_id, result)       # or rules.worker_lost(...) when the worker died
    outcome = rules.close()                          # sweepnet_sweep_end
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sweepnet import leaderboard
from sweepnet.errors import ConfigError, SweepnetError
from sweepnet.leaderboard import Entry, can_rank, rank
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState

if TYPE_CHECKING:
    from pluggy import HookRelay

    from sweepnet.plan import BoundPlan

__all__ = ["Handout", "SweepOutcome", "SweepRules", "SweepStatus", "TrialRecord", "TrialStage"]

# A searcher that keeps proposing points already run (random search over a few choices) has
# nothing new left; this many duplicates in a row, beyond the trials already known, ends the sweep.
_DUPLICATE_MARGIN = 100


@dataclass(frozen=True)
class SweepStatus:
    """A snapshot of a sweep for the progress display.

    Attributes
    ----------
    total : trials the sweep will have when it ends (re-fed ones included), None when unbounded.
    states : finished trials by final state (re-fed ones included).
    running : trials started and not finished (retries waiting for a worker included).
    best_value, best_number : best value of the metric so far and the trial that reached it.
    metric, mode : what is optimised.
    elapsed_s : seconds since this invocation started.
    """

    total: int | None
    states: dict[TrialState, int]
    running: int
    best_value: float | None
    best_number: int | None
    metric: str
    mode: str
    elapsed_s: float

    @property
    def finished(self) -> int:
        """Trials in a final state."""
        return sum(self.states.values())


@dataclass
class SweepOutcome:
    """What a sweep invocation produced.

    Attributes
    ----------
    sweep : the invocation as the hooks saw it.
    entries : every trial of the sweep -- re-fed, finished or killed -- by trial number; only the
        best trial keeps its weights.
    interrupted : True when Ctrl-C stopped it (running trials are KILLED).
    hook_errors : one line per distinct failure of a plugin's lifecycle hook (e.g. the tracking
        store could not be written); the sweep went on without it.
    """

    sweep: SweepInfo
    entries: list[Entry]
    interrupted: bool = False
    hook_errors: list[str] = field(default_factory=list)

    @property
    def best(self) -> Entry | None:
        """The best completed or pruned trial, None when none has a finite metric."""
        return leaderboard.best(self.entries, self.sweep.metric, self.sweep.mode)

    def in_state(self, *states: TrialState) -> list[Entry]:
        """Entries whose result is in one of ``states``."""
        return [entry for entry in self.entries if entry[1].state in states]


class TrialStage(enum.Enum):
    """Where a trial of this invocation stands; once ENDED, its result's :class:`TrialState` says how."""

    QUEUED = "queued"  # waiting to be handed out (new, or given back before it started)
    PENDING = "pending"  # handed out to a worker, not started (it may wait there behind another trial)
    RUNNING = "running"
    RETRYING = "retrying"  # its worker died: waiting to be handed out again
    ENDED = "ended"  # its result is recorded: re-fed, finished, failed or killed


@dataclass
class TrialRecord:
    """One trial of the sweep and where it stands.

    Attributes
    ----------
    spec : the trial.
    stage : where it stands.
    started_at : ``time.monotonic()`` when it first started, None before.
    node, worker : where its last attempt runs or ran.
    retries : re-runs after a lost worker.
    charged_losses : the losses counted against ``max_retries`` (see :meth:`SweepRules.worker_lost`).
    history : the epochs its current attempt reported.
    reported_epoch : highest epoch passed to the hooks and the pruner.
    stop_epoch : epoch at which the pruner said stop, None while it may go on.
    alone : it may neither wait behind another trial on a worker nor have one wait behind it.
    result : how it ended (ENDED only); only the best trial's keeps its weights.
    """

    spec: TrialSpec
    stage: TrialStage = TrialStage.QUEUED
    started_at: float | None = None
    node: str | None = None
    worker: str | None = None
    retries: int = 0
    charged_losses: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    reported_epoch: int = 0
    stop_epoch: int | None = None
    alone: bool = False
    result: TrialResult | None = None

    @property
    def live(self) -> bool:
        """Started and not ended: running, or waiting for a worker to run it again."""
        return self.started_at is not None and self.stage is not TrialStage.ENDED


@dataclass(frozen=True)
class Handout:
    """A trial handed out to a worker, with the epochs after which the worker waits for the
    pruner's answer to its report (None: every epoch)."""

    spec: TrialSpec
    decision_epochs: frozenset[int] | None


class SweepRules:
    """Runs the rules of one sweep invocation; the caller executes the trials it hands out.

    Parameters
    ----------
    bound : the sweep plan bound to its data set (metric, mode, searcher, pruner, stop criteria,
        the trials' specs, ``resources.max_retries``).
    hook : the plugin manager's hook relay (``get_plugin_manager().hook``).
    history : ``(spec, result)`` pairs recorded by an earlier invocation (resume); finished ones
        are not run again and are re-fed to the searcher and the pruner.

    Attributes
    ----------
    sweep : the invocation, passed to every lifecycle hook.
    searcher, pruner : made from ``bound`` for this invocation.
    """

    def __init__(self, bound: BoundPlan, *, hook: HookRelay, history: Iterable[Entry] = ()) -> None:
        self._bound = bound
        self.sweep = bound.sweep
        self.searcher = bound.make_searcher()
        self.pruner = bound.make_pruner()
        self._stop_criteria = bound.stop_criteria
        self._max_retries = bound.plan.resources.max_retries
        self._metric, self._mode = bound.metric, bound.mode
        self._hook = hook
        self._started_at = time.monotonic()
        self._records: dict[str, TrialRecord] = {}
        self._unended: dict[str, TrialRecord] = {}  # the few not ENDED, which the loop reads often
        # What to hand out next: the RETRYING records first, then the QUEUED ones.
        self._queue: deque[TrialRecord] = deque()
        self._states: Counter[TrialState] = Counter()
        self._extra_tells: Counter[str] = Counter()  # duplicate asks of a live trial, told when it ends
        self._numbers: set[int] = set()
        self._asked = 0
        self._exhausted = False
        self._best: TrialRecord | None = None
        self._hook_errors: dict[str, None] = {}  # insertion-ordered set of messages
        self._refeed(history)

    # ----------------------------------------------------------------------------- lifecycle

    def begin(self) -> None:
        """Call ``sweepnet_sweep_start``; its errors propagate (no trial has started yet)."""
        self._hook.sweepnet_sweep_start(sweep=self.sweep)

    def close(self, *, interrupted: bool = False) -> SweepOutcome:
        """Call ``sweepnet_sweep_end`` with every trial's result and return the outcome."""
        entries = self._entries()
        self._call("sweepnet_sweep_end", sweep=self.sweep, results=[result for _, result in entries])
        return SweepOutcome(self.sweep, entries, interrupted, list(self._hook_errors))

    def close_if_nothing_left(self) -> SweepOutcome | None:
        """For a resumed sweep, before any trial: when none is left to run, call the sweep's start
        and end hooks with ``SweepInfo.nothing_left`` set and return the outcome; else None."""
        if not self.done():
            return None
        self.sweep = dataclasses.replace(self.sweep, nothing_left=True)
        self.begin()
        return self.close()

    def done(self) -> bool:
        """True when no trial is live or handed out, and none is left to hand out."""
        return self._head() is None and not self._unended

    def record(self, trial_id: str) -> TrialRecord:
        """The record of a trial of this invocation, to read (the rules change it)."""
        return self._records[trial_id]

    @property
    def waiting(self) -> int | None:
        """Trials that still need a worker: not handed out yet, or waiting for a retry; None when
        the sweep is unbounded."""
        total = self._total()
        if total is None:
            return None
        return max(0, total - len(self._records)) + len(self._queue)

    # ----------------------------------------------------------------------------- the scheduler's calls

    def next_trial(self, *, behind: str | None = None, workers: int = 1) -> Handout | None:
        """The next trial to run on a worker, or None when none should start there now.

        Retries come first, then trials given back, then new points from the searcher, unless the
        stop criteria say stop or it is exhausted; points already known are skipped (the searcher
        is told their result), so nothing runs twice. A trial counts towards ``num_samples`` once
        asked. A new point whose model is above ``resources.max_model_mb`` is recorded FAILED with
        the reason, not run.

        Parameters
        ----------
        behind : the trial running on that worker, for one to wait behind it and start the moment
            it ends (saving a round trip through the scheduler); None for an idle worker.
        workers : the sweep's workers. A trial waits behind another only while enough are left for
            every worker to get one (near the end none waits while a worker is idle), and never
            when either must run alone (see :meth:`worker_lost`).
        """
        if behind is not None:
            waiting = self.waiting
            if self._records[behind].alone or (waiting is not None and waiting < workers):
                return None
        record = self._head()
        if record is None or (behind is not None and record.alone):
            return None
        self._queue.popleft()
        record.stage = TrialStage.PENDING
        epochs = self.pruner.decision_epochs(record.spec.trial_id)
        return Handout(record.spec, None if epochs is None else frozenset(epochs))

    def started(self, trial_id: str, *, node: str | None = None, worker: str | None = None) -> None:
        """A trial handed out began on a worker on ``node``; its first start calls ``sweepnet_trial_start``."""
        record = self._records[trial_id]
        if record.started_at is None:
            record.started_at = time.monotonic()
            self._call("sweepnet_trial_start", sweep=self.sweep, trial=record.spec)
        record.stage, record.node, record.worker = TrialStage.RUNNING, node, worker

    def reported(self, trial_id: str, epoch: int, metrics: dict[str, float]) -> bool:
        """Epoch ``epoch`` (1-based) of a running trial ended with ``metrics``; True: stop it (PRUNED).

        A retried trial replays the epochs its lost attempt reported: they reach neither the hooks
        nor the pruner twice, and get the answer they got then.
        """
        record = self._records[trial_id]
        record.history.append({"epoch": float(epoch), **metrics})
        if epoch <= record.reported_epoch:
            return record.stop_epoch is not None and epoch >= record.stop_epoch
        record.reported_epoch = epoch
        self._call("sweepnet_trial_report", sweep=self.sweep, trial=record.spec, epoch=epoch, metrics=metrics)
        if record.stop_epoch is not None:  # stopped after an epoch its worker did not wait on
            return True
        value = metrics.get(self._metric)
        if value is None or not self.pruner.report(trial_id, epoch, value):
            return False
        record.stop_epoch = epoch
        return True

    def ended(self, trial_id: str, result: TrialResult) -> None:
        """A running trial ended with ``result`` (from its worker): learn from it and record it."""
        record = self._records[trial_id]
        self._conclude(
            record, dataclasses.replace(result, node=record.node, worker=record.worker, retries=record.retries)
        )

    def worker_lost(self, trial_id: str, reason: str, *, queued: Sequence[str] = ()) -> bool:
        """The worker running ``trial_id`` died: queue a retry, or fail the trial once retries are spent.

        With trials ``queued`` behind it on that worker, the first of them may have begun and
        killed the worker before ``trial_id``'s result got out, so the loss cannot be pinned on
        either: it is not counted against ``max_retries`` (the re-run still counts in the trial's
        ``retries``), and all of them are handed out again to run alone, where a loss has one culprit.

        Returns
        -------
        True when the trial will be retried.
        """
        record = self._records[trial_id]
        if queued:
            for queued_id in queued:
                self.given_back(queued_id)
                self._records[queued_id].alone = True
            record.alone = True
        elif record.charged_losses < self._max_retries:
            record.charged_losses += 1
        else:
            failed = self._unfinished(record, TrialState.FAILED, f"worker lost {record.retries + 1} times: {reason}")
            self._conclude(record, failed)
            return False
        record.retries += 1
        record.history = []  # the retry starts from scratch and reports every epoch again
        record.stage = TrialStage.RETRYING
        retrying = sum(1 for waiting in self._queue if waiting.stage is TrialStage.RETRYING)
        self._queue.insert(retrying, record)
        return True

    def given_back(self, trial_id: str) -> None:
        """A trial handed out never started (the worker it waited for died): hand it out again
        before anything new (a retry stays a retry, with no retry spent on this)."""
        record = self._records[trial_id]
        if record.started_at is not None:
            record.stage = TrialStage.RETRYING
            self._queue.appendleft(record)
        else:
            record.stage = TrialStage.QUEUED
            self._queue.append(record)

    def kill_all(self, reason: str) -> list[str]:
        """Mark every started, unended trial KILLED (Ctrl-C); returns their trial ids."""
        killed = [record for record in self._unended.values() if record.live]
        self._queue = deque(record for record in self._queue if record.started_at is None)
        for record in killed:
            self._conclude(record, self._unfinished(record, TrialState.KILLED, reason))
        return [record.spec.trial_id for record in killed]

    def status(self) -> SweepStatus:
        """A snapshot for the progress display."""
        best = self._best.result if self._best is not None else None
        return SweepStatus(
            total=self._total(),
            states=dict(self._states),
            running=sum(1 for record in self._unended.values() if record.live),
            best_value=best.metrics[self._metric] if best is not None else None,
            best_number=self._best.spec.number if self._best is not None else None,
            metric=self._metric,
            mode=self._mode,
            elapsed_s=time.monotonic() - self._started_at,
        )

    # ----------------------------------------------------------------------------- helpers

    def _head(self) -> TrialRecord | None:
        """The record to hand out next, asking the searcher for a new point when the queue is empty."""
        if not self._queue:
            spec = self._ask()
            if spec is None:
                return None
            record = self._add(TrialRecord(spec))
            self._queue.append(record)
        return self._queue[0]

    def _ask(self) -> TrialSpec | None:
        """A new point from the searcher, numbered; None when it has none or the sweep should stop."""
        duplicates = 0
        while not self._exhausted and not self._should_stop():
            params = self.searcher.ask()
            number, self._asked = self._asked, self._asked + 1
            if params is None:
                self._exhausted = True
                break
            spec, setup = self._bound.trial(params, number)
            known = self._records.get(spec.trial_id)
            if known is None:
                spec = self._numbered(spec)
                try:
                    self._bound.check_model_size(setup)
                except ConfigError as err:  # this point only: the others go on
                    self._refuse(spec, str(err))
                    continue
                return spec
            if known.result is not None:
                self.searcher.tell(spec.params, known.result.metrics.get(self._metric), known.result.state)
            else:
                self._extra_tells[spec.trial_id] += 1
            duplicates += 1
            if self.searcher.total is None and duplicates > self._ended_count() + _DUPLICATE_MARGIN:
                self._exhausted = True
        return None

    def _refeed(self, history: Iterable[Entry]) -> None:
        """Learn the finished trials of an earlier invocation, in the order they were produced."""
        finished = [(spec, result) for spec, result in history if result.state.is_finished]
        for spec, result in sorted(finished, key=lambda entry: entry[0].number):
            if spec.trial_id in self._records:
                continue
            self.searcher.tell(spec.params, result.metrics.get(self._metric), result.state)
            for index, row in enumerate(result.history, start=1):
                value = row.get(self._metric)
                if value is not None:
                    self.pruner.report(spec.trial_id, int(row.get("epoch", index)), value)
            self.pruner.complete(spec.trial_id, result.state)
            self._record(TrialRecord(spec), result)

    def _conclude(self, record: TrialRecord, result: TrialResult) -> None:
        """Tell the searcher and pruner how ``record`` ended, call ``sweepnet_trial_end``, record it."""
        spec = record.spec
        record.alone = False
        if result.state.is_finished:
            value = result.metrics.get(self._metric)
            for _ in range(1 + self._extra_tells.pop(spec.trial_id, 0)):
                self.searcher.tell(spec.params, value, result.state)
            self.pruner.complete(spec.trial_id, result.state)
        self._call("sweepnet_trial_end", sweep=self.sweep, trial=spec, result=result)
        self._record(record, result)

    def _record(self, record: TrialRecord, result: TrialResult) -> None:
        """End ``record`` with ``result``; only the best trial keeps its weights in memory."""
        if can_rank(result, self._metric) and self._better(record.spec, result):
            if self._best is not None and self._best.result is not None:
                self._best.result = dataclasses.replace(self._best.result, weights=None)
            self._best = record
        elif result.weights is not None:
            result = dataclasses.replace(result, weights=None)
        record.stage, record.result = TrialStage.ENDED, result
        self._records[record.spec.trial_id] = record
        self._unended.pop(record.spec.trial_id, None)
        self._states[result.state] += 1
        self._numbers.add(record.spec.number)

    def _better(self, spec: TrialSpec, result: TrialResult) -> bool:
        """True when ``(spec, result)`` ranks above the best trial so far (the leaderboard's order)."""
        if self._best is None or self._best.result is None:
            return True
        best = (self._best.spec, self._best.result)
        return rank([(spec, result), best], self._metric, self._mode)[0][0] is spec

    def _add(self, record: TrialRecord) -> TrialRecord:
        self._records[record.spec.trial_id] = self._unended[record.spec.trial_id] = record
        return record

    def _entries(self) -> list[Entry]:
        """The ENDED trials with their results, by trial number."""
        entries = [(record.spec, record.result) for record in self._records.values() if record.result is not None]
        return sorted(entries, key=lambda entry: entry[0].number)

    def _ended_count(self) -> int:
        return sum(self._states.values())

    def _numbered(self, spec: TrialSpec) -> TrialSpec:
        """``spec`` keeping its ask index as number unless a re-fed trial holds it (an adaptive searcher's
        new points after a resume); then the next free number."""
        if spec.number not in self._numbers:
            self._numbers.add(spec.number)
            return spec
        number = max(self._numbers) + 1
        self._numbers.add(number)
        return dataclasses.replace(spec, number=number)

    def _should_stop(self) -> bool:
        best = self._best.result.metrics[self._metric] if self._best is not None and self._best.result else None
        return self._stop_criteria.should_stop(len(self._records), time.monotonic() - self._started_at, best)

    def _total(self) -> int | None:
        bounds = [bound for bound in (self.searcher.total, self._stop_criteria.num_samples) if bound is not None]
        return min(bounds) if bounds else None

    def _refuse(self, spec: TrialSpec, reason: str) -> None:
        """Record ``spec`` as FAILED with ``reason`` without running it (its start and end hooks
        are called, so it is recorded like any failed trial)."""
        record = self._add(TrialRecord(spec, started_at=time.monotonic()))
        self._call("sweepnet_trial_start", sweep=self.sweep, trial=spec)
        self._conclude(record, self._unfinished(record, TrialState.FAILED, reason))

    def _unfinished(self, record: TrialRecord, state: TrialState, reason: str) -> TrialResult:
        """The result of a trial that ended without its worker's word: what it reported so far."""
        started = record.started_at if record.started_at is not None else time.monotonic()
        return TrialResult(
            record.spec.trial_id,
            state,
            history=record.history,
            duration_s=time.monotonic() - started,
            error=reason,
            node=record.node,
            worker=record.worker,
            retries=record.retries,
        )

    def _call(self, name: str, **kwargs: Any) -> None:
        """Call lifecycle hook ``name``; a plugin that raises is recorded, and the sweep goes on."""
        try:
            getattr(self._hook, name)(**kwargs)
        except Exception as err:  # a broken tracker must not strand running trials
            message = str(err) if isinstance(err, SweepnetError) else f"{type(err).__name__}: {err}"
            self._hook_errors[f"{name}: {' '.join(message.split())}"] = None
