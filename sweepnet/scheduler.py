"""Runs a sweep on Ray: a pool of long-lived trial workers fed by the driver loop.

The only module of sweepnet that imports ``ray``. :func:`run_sweep` loads the data set once on
the driver, checks the plan against it, and shares it read-only through Ray's object store. One
worker actor per trial slot builds the plugin registries once and runs trial after trial, so a
short trial does not pay for a process start. Each trial streams its per-epoch reports back (a
generator actor method); the sweep's rules (:class:`~sweepnet.rules.SweepRules`) decide what runs
next and call the lifecycle hooks and the pruner. After an epoch at which the pruner may stop the
trial (its ``decision_epochs``) the worker waits for the decision before the next epoch, so a
pruned trial stops at the epoch it was judged on and frees its slot.

A worker that dies mid-trial is replaced and the trial re-run (``resources.max_retries``), then
FAILED with the reason; an exception in model or plugin code fails only that trial. Ctrl-C stops
dispatching, kills the running trials (KILLED), and still calls ``sweepnet_trial_end`` /
``sweepnet_sweep_end`` so the tracker flushes; ``resume=True`` continues from the recorded history.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import subprocess
import threading
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import ray
import ray._private.ray_constants as ray_constants
from ray.exceptions import RayError, RayTaskError

from sweepnet import reaper
from sweepnet.errors import ConfigError, SweepnetError, one_line
from sweepnet.interrupt import sigint_flag
from sweepnet.pluginmanager import PluginManager, PluginWarning, get_plugin_manager, get_registries
from sweepnet.records import TrialResult, TrialSpec, TrialState

if TYPE_CHECKING:
    from pluggy import HookRelay

    from sweepnet.config import SweepPlan
    from sweepnet.data import Dataset, DatasetMeta
    from sweepnet.leaderboard import Entry
    from sweepnet.plan import BoundPlan
    from sweepnet.progress import SweepProgress
    from sweepnet.rules import Handout, SweepOutcome, SweepRules

__all__ = ["TrialFn", "run_sweep"]

TrialFn = Callable[..., TrialResult]
"""``trial_fn(spec, report, *, dataset, registries) -> TrialResult``, like :func:`sweepnet.trial.run_trial`.

It runs inside the workers, so it must pickle: a module-level function (or a ``functools.partial``
of one) that the workers can import, or one defined in the ``__main__`` script."""

_POLL_S = 0.1  # how long the loop waits for an event before checking for Ctrl-C
_BATCH_S = 0.1  # how long a worker gathers reports that need no decision before sending them
_INTERRUPTED = "interrupted (Ctrl-C) before it finished"
_T = TypeVar("_T")
_REAPER: subprocess.Popen[bytes] | None = None  # the watchdog of this process's local Ray instance


def run_sweep(
    plan: SweepPlan,
    *,
    address: str | None = None,
    max_concurrent: int | None = None,
    resume: bool = False,
    recorded_meta: DatasetMeta | None = None,
    trial_fn: TrialFn | None = None,
    hook: HookRelay | None = None,
    progress: SweepProgress | None = None,
    dashboard: bool = False,
) -> SweepOutcome:
    """Run every trial of ``plan`` on Ray and return the outcome (also when interrupted by Ctrl-C).

    Parameters
    ----------
    plan : the validated sweep plan.
    address : Ray cluster to join (``"10.0.0.1:6379"``, ``"auto"``); None: ``$RAY_ADDRESS``, else a
        new local Ray instance with this machine's CPUs. Ignored when Ray is already initialised:
        like Ray Tune, a sweep leaves Ray running for the next one (it stops when Python exits).
    max_concurrent : trials at once; None: ``plan.resources.max_concurrent``, else as many as the
        cluster's resources fit at ``resources.cpus_per_trial`` / ``gpus_per_trial`` each.
    resume : continue the recorded sweep: finished trials are not run again; when nothing is
        left to run, the sweep's start and end hooks run (``SweepInfo.nothing_left``) without
        loading the data set or starting Ray.
    recorded_meta : with ``resume``, the data set's meta as the earlier invocation recorded it: the
        default metric follows from its task, so what is left to run is decided without the data.
    trial_fn : what a worker runs per trial; :func:`sweepnet.trial.run_trial` by default.
    hook : the lifecycle hook relay; by default the process-wide plugins' hooks, each plugin called
        on its own (:class:`~sweepnet.lifecycle.LifecycleHooks`).
    progress : display fed with the sweep's status; none by default.
    dashboard : start Ray's dashboard (on 127.0.0.1) with a local instance.

    Raises
    ------
    SweepnetError
        for bad input (config, data, resources, an unreachable cluster) before any trial starts.
    """
    # Imported here, not at the top: a worker process imports this module for _TrialWorker and
    # boots faster without the driver's side (rich, the leaderboard).
    from sweepnet.lifecycle import LifecycleHooks
    from sweepnet.progress import SweepProgress
    from sweepnet.rules import SweepRules

    if trial_fn is None:
        from sweepnet.trial import run_trial

        trial_fn = run_trial
    manager = None
    if hook is None:  # LifecycleHooks is called like pluggy's relay
        manager = get_plugin_manager()
        hook = cast("HookRelay", LifecycleHooks(manager))
    progress = progress if progress is not None else SweepProgress()

    checked = threading.Event()

    def prepare() -> tuple[Dataset, BoundPlan]:
        dataset = plan.load_dataset()
        plan.check(dataset)
        checked.set()
        bound = plan.bind(dataset.meta, resumed=resume)
        hook.sweepnet_sweep_prepare(sweep=bound.sweep)
        return dataset, bound

    def start_preparing() -> _Background[tuple[Dataset, BoundPlan]]:
        prepared = _Background(prepare)  # the plugins prepare while Ray starts
        # A config error that needs the data (a model too big for its inputs, a batch larger than the
        # training split) ends the command within seconds, not after Ray's start (20 s and more).
        prepared.wait_for(checked)
        return prepared

    # a resume decides first, without the data set when the metric is known without it
    unloaded = plan.bind(recorded_meta, resumed=True) if resume else None
    prepared = None if unloaded is not None else start_preparing()
    with _showing(progress, manager):
        rules, history = None, []
        if resume:  # decided before Ray starts: a sweep with nothing left to run needs none
            bound = unloaded or cast("_Background[tuple[Dataset, BoundPlan]]", prepared).wait()[1]
            history = _history(bound, hook)
            rules = SweepRules(bound, hook=hook, history=history)
            if (outcome := rules.close_if_nothing_left()) is not None:
                progress.update(rules.status())
                return outcome
            if unloaded is not None:  # made again for the loaded data set's meta
                rules = None
        prepared = prepared or start_preparing()
        return _run_on_ray(plan, prepared, rules, history, hook, progress, trial_fn, address, max_concurrent, dashboard)


def _run_on_ray(
    plan: SweepPlan,
    prepared: _Background[tuple[Dataset, BoundPlan]],
    rules: SweepRules | None,
    history: list[Entry],
    hook: HookRelay,
    progress: SweepProgress,
    trial_fn: TrialFn,
    address: str | None,
    max_concurrent: int | None,
    dashboard: bool,
) -> SweepOutcome:
    """Start (or join) Ray and run the sweep's trials on it (``rules``: a resumed sweep's, when
    made for the loaded data set; else they are made with ``history``)."""
    from sweepnet.rules import SweepRules

    _connect(address, dashboard)
    prepared.raise_failure()  # e.g. a store that cannot be written, found meanwhile: no worker needs to start
    pool = _Pool(plan, trial_fn, progress)
    try:  # the workers boot while the plugins prepare, the history is read and sweep_start runs
        pool.boot(_slot_count(plan, max_concurrent))
        dataset_ref, bound = _to_object_store(prepared)
        rules = rules or SweepRules(bound, hook=hook, history=history)
        pool.start(dataset_ref, rules)
        with sigint_flag() as interrupted:
            rules.begin()
            try:
                stopped = pool.run(interrupted)
            except BaseException:  # a second Ctrl-C, or a bug: still record what ran
                rules.kill_all("the sweep driver stopped before the trial finished")
                rules.close(interrupted=True)
                raise
            outcome = rules.close(interrupted=stopped)
        progress.update(rules.status())
        return outcome
    finally:
        pool.shutdown()


# --------------------------------------------------------------------------------- workers


@ray.remote(concurrency_groups={"control": 1})  # type: ignore[call-overload]  # not in ray's overloads
class _TrialWorker:
    """A long-lived process that runs trials one after another.

    Trials run on a dedicated thread (the trial function limits BLAS threads), so :meth:`run` can
    stream that thread's reports as a generator while :meth:`decide`, in its own concurrency
    group, hands it the pruner's answers.

    ``trial_fn`` comes pickled (``ray.cloudpickle``) and is unpickled here, so that a worker that
    cannot import it (or a plugin) answers :meth:`attach` with that one error instead of dying
    with Ray's traceback of its creation task.
    """

    def __init__(self, pickled_trial_fn: bytes) -> None:
        self._dataset: Dataset | None = None
        self._setup_error: str | None = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PluginWarning)  # the driver reported them, once
                self._registries = get_registries()
            self._trial_fn: TrialFn = ray.cloudpickle.loads(pickled_trial_fn)
        except Exception as err:
            self._setup_error = one_line(err)
            return
        self._jobs = _InOrder()
        self._handed_over = threading.Semaphore(0)  # released once Ray has taken a trial's result
        self._events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._decisions: queue.SimpleQueue[bool] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="sweepnet-trials", daemon=True).start()

    def attach(self, dataset: Dataset) -> tuple[str, str]:
        """Take the sweep's data set; return ``(node, worker)``: node IP and Ray node id prefix, and
        this process's pid. The driver sends no trial before this answered.

        Raises
        ------
        SweepnetError
            when a plugin or the trial function cannot be loaded here.
        """
        self._dataset = dataset  # zero-copy, read-only views of the object store's copy
        if self._setup_error is not None:
            raise SweepnetError(f"the trial worker cannot load the plugins or the trial function: {self._setup_error}")
        node_id = ray.get_runtime_context().get_node_id()
        return f"{ray.util.get_node_ip_address()}/{node_id[:8]}", f"pid {os.getpid()}"

    def run(
        self, spec: TrialSpec, decision_epochs: Collection[int] | None, number: int, queued: bool = False
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Run this worker's ``number``-th trial (``queued``: the one :meth:`queue` took); yields
        batches of ``("report", epoch, metrics)`` events, the last one ending with ``("result", result)``.

        After each epoch of ``decision_epochs`` (None: every epoch) the trial waits for
        :meth:`decide`, so that report goes out at once. The other reports of up to ``_BATCH_S``
        seconds go out together: a streamed object costs about a millisecond, more than a small
        net's epoch.
        """
        if not queued:
            self._jobs.put(number, (spec, decision_epochs))
        try:
            while True:
                batch = [self._events.get()]
                deadline = time.monotonic() + _BATCH_S
                while batch[-1][0] != "result" and not _waits(batch[-1], decision_epochs):
                    try:
                        batch.append(self._events.get(timeout=max(0.0, deadline - time.monotonic())))
                    except queue.Empty:
                        break
                yield batch
                if batch[-1][0] == "result":
                    return
        finally:  # Ray resumes (or closes) a generator once it has taken what it yielded
            self._handed_over.release()

    @ray.method(concurrency_group="control")
    def queue(self, spec: TrialSpec, decision_epochs: Collection[int] | None, number: int) -> None:
        """Start ``spec``, this worker's ``number``-th trial, as soon as the one before ends; its
        events wait for the :meth:`run` call that the driver sends along. Ray runs a caller's
        ``run`` calls in order, one at a time, and the trials run in the order of their numbers
        (this call may overtake the ``run`` of the trial before), so each ``run`` streams the
        events of its own trial."""
        self._jobs.put(number, (spec, decision_epochs))

    @ray.method(concurrency_group="control")
    def decide(self, stop: bool) -> None:
        """The pruner's answer to the last report: True stops the trial (PRUNED)."""
        self._decisions.put(stop)

    def _serve(self) -> None:
        while True:
            spec, decision_epochs = self._jobs.take()
            self._events.put(("result", self._run_one(spec, decision_epochs)))
            # A queued trial that crashes the process at once would take this result with it.
            # Ray sends a yielded object asynchronously, so this narrows that window without
            # closing it; the rules re-run both trials of such a loss (SweepRules.worker_lost).
            self._handed_over.acquire()

    def _run_one(self, spec: TrialSpec, decision_epochs: Collection[int] | None) -> TrialResult:
        def report(epoch: int, metrics: dict[str, float]) -> bool:
            event = ("report", epoch, metrics)
            self._events.put(event)
            return self._decisions.get() if _waits(event, decision_epochs) else False

        try:
            return self._trial_fn(spec, report, dataset=self._dataset, registries=self._registries)
        except Exception:  # run_trial catches its own; this guards any other trial function
            return TrialResult(spec.trial_id, TrialState.FAILED, error=traceback.format_exc())


def _waits(event: tuple[Any, ...], decision_epochs: Collection[int] | None) -> bool:
    """True for the report of an epoch after which the trial waits for the pruner's answer."""
    return event[0] == "report" and (decision_epochs is None or event[1] in decision_epochs)


class _InOrder:
    """Jobs numbered 0, 1, 2 ... handed out in that order, whatever the order they arrive in."""

    def __init__(self) -> None:
        self._jobs: dict[int, Any] = {}
        self._next = 0
        self._arrived = threading.Condition()

    def put(self, number: int, job: Any) -> None:
        with self._arrived:
            self._jobs[number] = job
            self._arrived.notify()

    def take(self) -> Any:
        """The next job, once it has arrived."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._next in self._jobs)
            self._next += 1
            return self._jobs.pop(self._next - 1)


@dataclass
class _Sent:
    """A trial sent to a worker: its spec, the stream of its events, and the epochs after which
    it waits for the pruner's answer (None: every epoch)."""

    spec: TrialSpec
    stream: Any  # ObjectRefGenerator
    decision_epochs: frozenset[int] | None


@dataclass
class _Slot:
    """One trial slot: its worker actor and what it is doing."""

    actor: Any
    starting: Any  # ObjectRef of ``attach()`` until the actor is up, then None
    node: str | None = None
    worker: str | None = None
    # the running trial, then the one queued behind it
    trials: deque[_Sent] = field(default_factory=deque)
    sent: int = 0  # trials sent to this worker
    failures: int = 0  # consecutive failed starts


class _Pool:
    """The driver loop over a pool of trial slots."""

    def __init__(self, plan: SweepPlan, trial_fn: TrialFn, progress: SweepProgress) -> None:
        resources = plan.resources
        self._options = {"num_cpus": resources.cpus_per_trial, "num_gpus": resources.gpus_per_trial, "max_restarts": 0}
        self._pickled_trial_fn = ray.cloudpickle.dumps(trial_fn)
        self._dataset_ref: ray.ObjectRef | None = None
        self._max_start_failures = resources.max_retries + 1
        self._rules: SweepRules  # set by start()
        self._progress = progress
        self._booting: list[Any] = []  # actors started before the data set was ready
        self._slots: list[_Slot] = []

    def boot(self, size: int) -> None:
        """Start ``size`` worker actors; they import sweepnet and build the registries meanwhile."""
        self._booting = [self._new_actor() for _ in range(size)]

    def start(self, dataset_ref: ray.ObjectRef, rules: SweepRules) -> None:
        """Hand the booting workers the data set at ``dataset_ref`` (no more of them than trials
        are left) and take trials from ``rules``."""
        self._dataset_ref, self._rules = dataset_ref, rules
        left = rules.waiting
        keep = max(1, min(len(self._booting), left if left is not None else len(self._booting)))
        for actor in self._booting[keep:]:
            ray.kill(actor)
        self._slots = [_Slot(actor, actor.attach.remote(dataset_ref)) for actor in self._booting[:keep]]
        self._booting = []

    def run(self, interrupted: threading.Event) -> bool:
        """Dispatch and collect trials until the sweep is done.

        Returns
        -------
        True when Ctrl-C stopped it (the running trials are then KILLED).
        """
        while not interrupted.is_set():
            self._dispatch()
            if self._rules.done():
                return False
            self._progress.update(self._rules.status())
            waiting = {self._awaited(slot): slot for slot in self._slots if slot.starting is not None or slot.trials}
            ready, _ = ray.wait(list(waiting), num_returns=1, timeout=_POLL_S)
            for waitable in ready:
                slot = waiting[waitable]
                if slot.starting is not None:
                    self._started(slot)
                else:
                    self._next_events(slot)
        for slot in self._slots:
            if slot.trials:
                ray.kill(slot.actor)
        self._rules.kill_all(_INTERRUPTED)
        return True

    def shutdown(self) -> None:
        """Stop every worker (the sweep is over)."""
        for actor in [*self._booting, *(slot.actor for slot in self._slots)]:
            ray.kill(actor)

    def _dispatch(self) -> None:
        """Hand the next trials to idle slots, then queue one behind the running trial of each
        busy slot when the rules allow it (:meth:`SweepRules.next_trial`).

        A queued trial starts the moment its worker's running trial ends, without a round trip
        through this loop and Ray (about 3 ms here).
        """
        up = [slot for slot in self._slots if slot.starting is None]
        for slot in up:
            if not slot.trials:
                handout = self._rules.next_trial()
                if handout is None:
                    return
                self._send(slot, handout)
        for slot in up:
            if len(slot.trials) == 1:
                behind = slot.trials[0].spec.trial_id
                handout = self._rules.next_trial(behind=behind, workers=len(self._slots))
                if handout is not None:
                    self._send(slot, handout)

    def _send(self, slot: _Slot, handout: Handout) -> None:
        """Give ``slot`` a trial, or queue it behind the slot's running one."""
        spec, epochs = handout.spec, handout.decision_epochs
        queued, number = bool(slot.trials), slot.sent
        if queued:
            slot.actor.queue.remote(spec, epochs, number)
        stream = slot.actor.run.options(num_returns="streaming").remote(spec, epochs, number, queued)
        slot.trials.append(_Sent(spec, stream, epochs))
        slot.sent += 1
        if not queued:
            self._rules.started(spec.trial_id, node=slot.node, worker=slot.worker)

    @staticmethod
    def _awaited(slot: _Slot) -> Any:
        """What the loop waits for from ``slot``: its ``attach()`` answer, else its running trial's stream."""
        return slot.starting if slot.starting is not None else slot.trials[0].stream

    def _new_actor(self) -> Any:
        actor_class: Any = _TrialWorker  # an ActorClass since @ray.remote; ray's stub keeps the class's type
        return actor_class.options(**self._options).remote(self._pickled_trial_fn)

    def _start_slot(self, failures: int = 0) -> _Slot:
        actor = self._new_actor()
        return _Slot(actor, actor.attach.remote(self._dataset_ref), failures=failures)

    def _started(self, slot: _Slot) -> None:
        """A slot's actor answered ``attach()``, or died trying to start."""
        try:
            slot.node, slot.worker = ray.get(slot.starting)
        except RayTaskError as err:  # attach() raised: the set-up failed
            self._replace(slot, failed_start=err.cause)
            return
        except RayError as err:
            self._replace(slot, failed_start=err)
            return
        slot.starting, slot.failures = None, 0

    def _next_events(self, slot: _Slot) -> None:
        """Handle the next batch a running trial streamed: reports, its result, or its worker's death."""
        sent = slot.trials[0]
        trial_id = sent.spec.trial_id
        try:
            batch = ray.get(next(sent.stream))
        except StopIteration:
            batch = [("lost", "the worker ended the trial without a result")]
        except RayTaskError as err:  # run() itself failed, e.g. a result that cannot be pickled
            batch = [("result", TrialResult(trial_id, TrialState.FAILED, error=str(err)))]
        except RayError as err:
            batch = [("lost", f"{type(err).__name__} on node {slot.node} ({slot.worker})")]
        for event in batch:
            if event[0] == "report":
                stop = self._rules.reported(trial_id, event[1], event[2])
                if _waits(event, sent.decision_epochs):
                    slot.actor.decide.remote(stop)
            elif event[0] == "result":
                slot.trials.popleft()
                self._rules.ended(trial_id, event[1])
                if slot.trials:  # the queued trial has begun
                    self._rules.started(slot.trials[0].spec.trial_id, node=slot.node, worker=slot.worker)
            else:
                queued = [sent.spec.trial_id for sent in list(slot.trials)[1:]]
                self._rules.worker_lost(trial_id, event[1], queued=queued)
                self._replace(slot)

    def _replace(self, slot: _Slot, *, failed_start: BaseException | None = None) -> None:
        """Put a fresh actor in the slot of a dead one; drop a slot that keeps failing to start."""
        ray.kill(slot.actor)
        failures = slot.failures + 1 if failed_start is not None else 0
        index = self._slots.index(slot)
        if failures < self._max_start_failures:
            self._slots[index] = self._start_slot(failures)
            return
        del self._slots[index]
        if not self._slots:
            raise SweepnetError(
                f"no Ray worker could start; the last error was {one_line(failed_start) if failed_start else 'unknown'}"
            )


# --------------------------------------------------------------------------------- helpers


def _to_object_store(prepared: _Background[tuple[Dataset, BoundPlan]]) -> tuple[ray.ObjectRef, BoundPlan]:
    """Put the prepared data set in Ray's object store and let go of the driver's own copy.

    Returns the object's reference and the plan bound to the data set, all the driver needs from
    then on (the plan was checked against the data while it was prepared): the data set is held
    once on the driver's machine, by the object store, not twice.
    """
    dataset, bound = prepared.result()
    return ray.put(dataset), bound


def _history(bound: BoundPlan, hook: HookRelay) -> list[Entry]:
    """The trials recorded by earlier invocations of the sweep (``sweepnet_sweep_history``)."""
    records = hook.sweepnet_sweep_history(sweep=bound.sweep)
    if records is None:
        raise SweepnetError(
            f"cannot resume sweep {bound.sweep.name!r}: no plugin keeps a record of past sweeps (is tracking disabled?)"
        )
    return list(records)


@contextmanager
def _showing(progress: SweepProgress, manager: PluginManager | None) -> Iterator[None]:
    """While inside, ``progress`` is registered on ``manager`` as the display plugins can write to
    (the tracker shows its final flush on it); nothing happens without a manager."""
    from sweepnet.progress import PROGRESS_PLUGIN

    if manager is None or manager.get_plugin(PROGRESS_PLUGIN) is not None:
        yield
        return
    manager.register(progress, name=PROGRESS_PLUGIN)
    try:
        yield
    finally:
        manager.unregister(progress)


def _connect(address: str | None, dashboard: bool) -> None:
    """Initialise Ray unless it is already.

    A new local instance listens on loopback only and ends with this process (see
    :func:`_local_node`); a cluster is joined as it is.
    """
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    local = address == "local"  # a new instance even if `ray start` runs here; join it with --address
    try:
        with _local_node() if local else nullcontext():
            ray.init(
                address=address,
                include_dashboard=dashboard if local else None,
                dashboard_host="127.0.0.1",
                _node_ip_address="127.0.0.1" if local else None,
                log_to_driver=False,  # trials report through the driver; worker chatter stays in Ray's logs
                # Ray >= 2.59 turns token authentication on for a local instance (and says so at
                # WARNING level); a cluster's own RAY_AUTH_MODE / token apply when joining one.
                logging_level=logging.ERROR,
            )
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise SweepnetError(f"cannot connect to the Ray cluster at {address!r}: {one_line(err)}") from err
    except Exception as err:  # Ray raises a bare Exception when its node does not come up in time
        if not local:
            raise
        raise SweepnetError(f"could not start a local Ray instance: {one_line(err)}") from err


@contextmanager
def _local_node() -> Iterator[None]:
    """While inside, ``ray.init`` starts a node that listens on 127.0.0.1 only and dies with us.

    Ray >= 2.60 binds every server of a node (GCS, raylet, object manager, workers, the agents'
    gRPC, HTTP and metrics ports, the dashboard) to loopback when the node's address is
    loopback. But ``ray.init`` replaces ``_node_ip_address="127.0.0.1"`` by the machine's
    address, unless Ray runs without clusters (its default on macOS and Windows), a flag it
    reads from ``ray_constants`` at that moment: it is set for the duration of the start only,
    so that a later ``ray.init(address=...)`` in this process still joins clusters.

    The watchdog (:mod:`sweepnet.reaper`) is started first, so that it sees every process of
    the node appear: Ray ends the GCS server and the raylet with the driver, not the agents.
    """
    global _REAPER
    if _REAPER is None or _REAPER.poll() is not None:
        _REAPER = reaper.start(os.path.dirname(ray.__file__))
    clusters = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = clusters


def _slot_count(plan: SweepPlan, max_concurrent: int | None) -> int:
    """Trial slots: as many as the cluster fits, at most ``max_concurrent``."""
    resources = plan.resources
    fits = 0
    for node in ray.nodes():
        if node["Alive"]:
            have = node["Resources"]
            per_node = math.floor(have.get("CPU", 0) / resources.cpus_per_trial)
            if resources.gpus_per_trial:
                per_node = min(per_node, math.floor(have.get("GPU", 0) / resources.gpus_per_trial))
            fits += per_node
    if fits == 0:
        raise ConfigError(
            "resources",
            f"no node of the Ray cluster has {resources.cpus_per_trial} CPUs and {resources.gpus_per_trial} GPUs "
            "free for one trial",
        )
    return max(1, min(max_concurrent or resources.max_concurrent or fits, fits))


class _Background(Generic[_T]):
    """``call()`` on a daemon thread of its own (an early exit need not wait for it)."""

    def __init__(self, call: Callable[[], _T]) -> None:
        self._outcome: list[Any] = []

        def target() -> None:
            try:
                self._outcome.append(call())
            except BaseException as err:  # re-raised in the caller's thread
                self._outcome.append(err)

        self._thread = threading.Thread(target=target, name="sweepnet-prepare", daemon=True)
        self._thread.start()

    def wait(self) -> _T:
        """Wait for ``call()`` to end; return its result (keeping it for :meth:`result`), or raise
        what it raised."""
        self._thread.join()
        outcome = self._outcome[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def result(self) -> _T:
        """Like :meth:`wait`, handing the result over: this object keeps no reference to it."""
        outcome = self.wait()
        self._outcome.clear()
        return outcome

    def wait_for(self, event: threading.Event) -> None:
        """Wait until ``call()`` sets ``event`` or ends; raise what it raised if it failed."""
        while not event.wait(_POLL_S) and self._thread.is_alive():
            pass
        self.raise_failure()

    def raise_failure(self) -> None:
        """Raise what ``call()`` raised if it has already ended so; return at once otherwise."""
        if not self._thread.is_alive() and isinstance(self._outcome[0], BaseException):
            raise self._outcome[0]
