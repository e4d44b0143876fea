"""The bookkeeping of one sweep invocation, independent of where its trials run.

:class:`SweepDriver` holds every rule of the sweep loop that is not about Ray: it asks the
searcher for trials (skipping finished ones), applies the stop criteria, answers per-epoch reports
with the pruner's decision, retries a trial whose worker died, re-feeds the finished trials of a
resumed sweep to the searcher and pruner, and calls the lifecycle hooks on the driver.
:mod:`sweepnet.scheduler` drives it from the Ray loop::

    driver = SweepDriver(plan, sweep, hook=hook, history=history)
    driver.begin()                                   # sweepnet_sweep_start
    spec = driver.next_trial()                       # None: nothing to start now
    driver.start(spec, node="10.0.0.2/1a2b3c4d", worker="pid 4242")  # when it begins on a worker
    stop = driver.report(spec.trial_id, 1, {"loss": 2.1, "val_acc": 0.4})
    driver.finish(spec.trial_id, result)             # or driver.lost(...) when the worker died
    outcome = driver.close()                         # sweepnet_sweep_end
"""

from __future__ import annotations

import dataclasses
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

    from sweepnet.config import SweepPlan

__all__ = ["SweepDriver", "SweepOutcome", "SweepStatus"]

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


@dataclass
class _Attempt:
    """A started trial that has not finished: running, or waiting for a worker to retry it."""

    spec: TrialSpec
    started: float
    node: str | None = None
    worker: str | None = None
    retries: int = 0  # re-runs after a lost worker
    charged_losses: int = 0  # the losses counted against max_retries (see SweepDriver.lost)
    history: list[dict[str, float]] = field(default_factory=list)
    reported_epoch: int = 0  # highest epoch passed to the hooks and the pruner
    stop_epoch: int | None = None  # epoch at which the pruner said stop


class SweepDriver:
    """Runs the rules of one sweep invocation; the caller executes the trials it hands out.

    Parameters
    ----------
    plan : the sweep plan (searcher, pruner, stop criteria, ``trial_spec``, ``resources.max_retries``).
    sweep : the invocation, passed to every lifecycle hook.
    hook : the plugin manager's hook relay (``get_plugin_manager().hook``).
    history : ``(spec, result)`` pairs recorded by an earlier invocation (resume); finished ones
        are not run again and are re-fed to the searcher and the pruner.
    """

    def __init__(self, plan: SweepPlan, sweep: SweepInfo, *, hook: HookRelay, history: Iterable[Entry] = ()) -> None:
        self.plan = plan
        self.sweep = sweep
        self.searcher = plan.make_searcher()
        self.pruner = plan.make_pruner()
        self.stop_criteria = plan.stop_criteria
        self.max_retries: int = plan.resources.max_retries
        self._hook = hook
        self._started_at = time.monotonic()
        self._finished: dict[str, Entry] = {}
        self._states: Counter[TrialState] = Counter()
        self._attempts: dict[str, _Attempt] = {}
        self._handed: dict[str, TrialSpec] = {}  # handed out by next_trial, not started yet
        self._given_back: deque[TrialSpec] = deque()
        self._retry: deque[str] = deque()
        self._alone: set[str] = set()  # trials to run with no other queued ahead or behind (see lost)
        self._extra_tells: Counter[str] = Counter()  # duplicate asks of a running trial, told when it ends
        self._numbers: set[int] = set()
        self._asked = 0
        self._exhausted = False
        self._best: Entry | None = None
        self._hook_errors: dict[str, None] = {}  # insertion-ordered set of messages
        self._refeed(history)

    # ----------------------------------------------------------------------------- lifecycle

    def begin(self) -> None:
        """Call ``sweepnet_sweep_start``; its errors propagate (no trial has started yet)."""
        self._hook.sweepnet_sweep_start(sweep=self.sweep)

    def close(self, *, interrupted: bool = False) -> SweepOutcome:
        """Call ``sweepnet_sweep_end`` with every trial's result and return the outcome."""
        entries = sorted(self._finished.values(), key=lambda entry: entry[0].number)
        self._call("sweepnet_sweep_end", sweep=self.sweep, results=[result for _, result in entries])
        return SweepOutcome(self.sweep, entries, interrupted, list(self._hook_errors))

    def decision_epochs(self, spec: TrialSpec) -> frozenset[int] | None:
        """The epochs after which the pruner may stop ``spec`` (None: any), so that its worker
        waits for :meth:`report`'s answer after these only."""
        epochs = self.pruner.decision_epochs(spec.trial_id)
        return None if epochs is None else frozenset(epochs)

    @property
    def active(self) -> int:
        """Trials started and not finished (running or waiting for a retry)."""
        return len(self._attempts)

    @property
    def waiting(self) -> int | None:
        """Trials that still need a worker: not handed out yet, or waiting for a retry; None when
        the sweep is unbounded."""
        total = self._total()
        if total is None:
            return None
        handed = len(self._finished) + len(self._attempts) + len(self._handed)
        return max(0, total - handed) + len(self._retry)

    # ----------------------------------------------------------------------------- trials

    def next_trial(self) -> TrialSpec | None:
        """The next trial to run, or None when nothing should start now.

        Trials whose worker died come first, then the ones given back. New trials come from the
        searcher, unless the stop criteria say stop or it is exhausted; points already finished,
        running or handed out are skipped (the searcher is told their known result), so nothing
        runs twice. A trial handed out counts towards ``num_samples`` from now on. A new point whose
        model is above ``resources.max_model_mb`` is recorded FAILED with the reason, not run.
        """
        if self._retry:
            return self._attempts[self._retry.popleft()].spec
        if self._given_back:
            spec = self._given_back.popleft()
            self._handed[spec.trial_id] = spec
            return spec
        duplicates = 0
        while not self._exhausted and not self._should_stop():
            params = self.searcher.ask()
            number, self._asked = self._asked, self._asked + 1
            if params is None:
                self._exhausted = True
                break
            spec = self.plan.trial_spec(params, number)
            if spec.trial_id in self._finished:
                known = self._finished[spec.trial_id][1]
                self.searcher.tell(spec.params, known.metrics.get(self.plan.metric), known.state)
            elif spec.trial_id in self._attempts or spec.trial_id in self._handed:
                self._extra_tells[spec.trial_id] += 1
            else:
                spec = self._numbered(spec)
                try:
                    self.plan.check_model_size(spec)
                except ConfigError as err:  # this point only: the others go on
                    self._refuse(spec, str(err))
                    continue
                self._handed[spec.trial_id] = spec
                return spec
            duplicates += 1
            if self.searcher.total is None and duplicates > len(self._finished) + _DUPLICATE_MARGIN:
                self._exhausted = True
        return None

    def start(self, spec: TrialSpec, *, node: str | None = None, worker: str | None = None) -> None:
        """``spec`` began on a worker on ``node``; the first attempt calls ``sweepnet_trial_start``."""
        self._handed.pop(spec.trial_id, None)
        attempt = self._attempts.get(spec.trial_id)
        if attempt is None:
            attempt = self._attempts[spec.trial_id] = _Attempt(spec, time.monotonic())
            self._call("sweepnet_trial_start", sweep=self.sweep, trial=spec)
        attempt.node, attempt.worker = node, worker

    def report(self, trial_id: str, epoch: int, metrics: dict[str, float]) -> bool:
        """Epoch ``epoch`` (1-based) of a running trial ended with ``metrics``; True: stop it (PRUNED).

        A retried trial replays the epochs its lost attempt reported: they reach neither the hooks
        nor the pruner twice, and get the answer they got then.
        """
        attempt = self._attempts[trial_id]
        attempt.history.append({"epoch": float(epoch), **metrics})
        if epoch <= attempt.reported_epoch:
            return attempt.stop_epoch is not None and epoch >= attempt.stop_epoch
        attempt.reported_epoch = epoch
        self._call("sweepnet_trial_report", sweep=self.sweep, trial=attempt.spec, epoch=epoch, metrics=metrics)
        if attempt.stop_epoch is not None:  # stopped after an epoch its worker did not wait on
            return True
        value = metrics.get(self.plan.metric)
        if value is None or not self.pruner.report(trial_id, epoch, value):
            return False
        attempt.stop_epoch = epoch
        return True

    def finish(self, trial_id: str, result: TrialResult) -> None:
        """A trial ended with ``result`` (from its worker): learn from it and record it."""
        attempt = self._attempts.pop(trial_id)
        result = dataclasses.replace(result, node=attempt.node, worker=attempt.worker, retries=attempt.retries)
        self._conclude(attempt, result)

    def lost(self, trial_id: str, reason: str, *, queued: Sequence[TrialSpec] = ()) -> bool:
        """The worker running ``trial_id`` died: queue a retry, or fail the trial once retries are spent.

        With ``queued`` trials waiting behind it on that worker, the first of them may have begun
        and killed the worker before ``trial_id``'s result got out, so the loss cannot be pinned on
        either: it is not counted against ``max_retries`` (the re-run still counts in the trial's
        ``retries``), and all of them are handed out again to run alone (see :meth:`runs_alone`),
        where a loss has one culprit.

        Returns
        -------
        True when the trial will be retried.
        """
        attempt = self._attempts[trial_id]
        if queued:
            for spec in queued:
                self.give_back(spec)
            self._alone.update([trial_id, *(spec.trial_id for spec in queued)])
        elif attempt.charged_losses < self.max_retries:
            attempt.charged_losses += 1
        else:
            del self._attempts[trial_id]
            failed = self._unfinished(attempt, TrialState.FAILED, f"worker lost {attempt.retries + 1} times: {reason}")
            self._conclude(attempt, failed)
            return False
        attempt.retries += 1
        attempt.history = []  # the retry starts from scratch and reports every epoch again
        self._retry.append(trial_id)
        return True

    def runs_alone(self, spec: TrialSpec) -> bool:
        """True when ``spec`` must not be queued behind another trial, nor get one queued behind it."""
        return spec.trial_id in self._alone

    def give_back(self, spec: TrialSpec) -> None:
        """``spec`` was handed out but never started (the worker it waited for died): hand it out
        again before anything new (a retry stays a retry, with no retry spent on this)."""
        if spec.trial_id in self._attempts:
            self._retry.appendleft(spec.trial_id)
            return
        del self._handed[spec.trial_id]
        self._given_back.append(spec)

    def kill_all(self, reason: str) -> list[str]:
        """Mark every started, unfinished trial KILLED (Ctrl-C); returns their trial ids."""
        killed = list(self._attempts)
        self._retry.clear()
        for trial_id in killed:
            attempt = self._attempts.pop(trial_id)
            self._conclude(attempt, self._unfinished(attempt, TrialState.KILLED, reason))
        return killed

    def status(self) -> SweepStatus:
        """A snapshot for the progress display."""
        best_spec, best_result = self._best or (None, None)
        return SweepStatus(
            total=self._total(),
            states=dict(self._states),
            running=len(self._attempts),
            best_value=best_result.metrics[self.plan.metric] if best_result else None,
            best_number=best_spec.number if best_spec else None,
            metric=self.plan.metric,
            mode=self.plan.mode,
            elapsed_s=time.monotonic() - self._started_at,
        )

    # ----------------------------------------------------------------------------- helpers

    def _refeed(self, history: Iterable[Entry]) -> None:
        """Learn the finished trials of an earlier invocation, in the order they were produced."""
        finished = [(spec, result) for spec, result in history if result.state.is_finished]
        for spec, result in sorted(finished, key=lambda entry: entry[0].number):
            if spec.trial_id in self._finished:
                continue
            self.searcher.tell(spec.params, result.metrics.get(self.plan.metric), result.state)
            for index, row in enumerate(result.history, start=1):
                value = row.get(self.plan.metric)
                if value is not None:
                    self.pruner.report(spec.trial_id, int(row.get("epoch", index)), value)
            self.pruner.complete(spec.trial_id, result.state)
            self._record(spec, result)

    def _conclude(self, attempt: _Attempt, result: TrialResult) -> None:
        """Tell the searcher and pruner how ``attempt`` ended, call ``sweepnet_trial_end``, record it."""
        spec = attempt.spec
        self._alone.discard(spec.trial_id)
        if result.state.is_finished:
            value = result.metrics.get(self.plan.metric)
            for _ in range(1 + self._extra_tells.pop(spec.trial_id, 0)):
                self.searcher.tell(spec.params, value, result.state)
            self.pruner.complete(spec.trial_id, result.state)
        self._call("sweepnet_trial_end", sweep=self.sweep, trial=spec, result=result)
        self._record(spec, result)

    def _record(self, spec: TrialSpec, result: TrialResult) -> None:
        """Keep ``(spec, result)``; only the best trial keeps its weights in memory."""
        if can_rank(result, self.plan.metric) and self._better(spec, result):
            if self._best is not None:
                best_spec, best_result = self._best
                self._finished[best_spec.trial_id] = (best_spec, dataclasses.replace(best_result, weights=None))
            self._best = (spec, result)
        elif result.weights is not None:
            result = dataclasses.replace(result, weights=None)
        self._finished[spec.trial_id] = (spec, result)
        self._states[result.state] += 1
        self._numbers.add(spec.number)

    def _better(self, spec: TrialSpec, result: TrialResult) -> bool:
        """True when ``(spec, result)`` ranks above the best trial so far (the leaderboard's order)."""
        if self._best is None:
            return True
        return rank([(spec, result), self._best], self.plan.metric, self.plan.mode)[0][0] is spec

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
        best = self._best[1].metrics[self.plan.metric] if self._best else None
        started = len(self._finished) + len(self._attempts) + len(self._handed)
        return self.stop_criteria.should_stop(started, time.monotonic() - self._started_at, best)

    def _total(self) -> int | None:
        bounds = [bound for bound in (self.searcher.total, self.stop_criteria.num_samples) if bound is not None]
        return min(bounds) if bounds else None

    def _refuse(self, spec: TrialSpec, reason: str) -> None:
        """Record ``spec`` as FAILED with ``reason`` without running it (its start and end hooks
        are called, so it is recorded like any failed trial)."""
        attempt = _Attempt(spec, time.monotonic())
        self._call("sweepnet_trial_start", sweep=self.sweep, trial=spec)
        self._conclude(attempt, self._unfinished(attempt, TrialState.FAILED, reason))

    def _unfinished(self, attempt: _Attempt, state: TrialState, reason: str) -> TrialResult:
        """The result of a trial that ended without its worker's word: what it reported so far."""
        return TrialResult(
            attempt.spec.trial_id,
            state,
            history=attempt.history,
            duration_s=time.monotonic() - attempt.started,
            error=reason,
            node=attempt.node,
            worker=attempt.worker,
            retries=attempt.retries,
        )

    def _call(self, name: str, **kwargs: Any) -> None:
        """Call lifecycle hook ``name``; a plugin that raises is recorded, and the sweep goes on."""
        try:
            getattr(self._hook, name)(**kwargs)
        except Exception as err:  # a broken tracker must not strand running trials
            message = str(err) if isinstance(err, SweepnetError) else f"{type(err).__name__}: {err}"
            self._hook_errors[f"{name}: {' '.join(message.split())}"] = None
