"""The write-behind queue: the driver's hooks append records, writer threads flush them to a backend.

In the spirit of Optuna's ``_CachedStorage`` over ``RDBStorage``: the driver never waits for
the store. A writer pass runs when a trial ends (gathering the trials that end within
``GATHER_S`` into the same pass) and every ``BATCH_INTERVAL`` seconds (the reports of running
trials). A trial's start waits up to ``BATCH_INTERVAL`` for its reports and end, so a short
trial is one record: one row set in one transaction on a database store.

A write that fails stays queued and is retried with backoff. A writer that is behind but
writing is never taken for an outage: :meth:`WriteBehind.drain` gives up only after
``stall_timeout`` seconds *without progress* -- no write succeeded and the store kept failing.
A write the store rejects (a value it refuses) is set aside, not retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from sweepnet.errors import one_line
from sweepnet.tracking.backend import Backend, RunWrite

__all__ = ["BATCH_INTERVAL", "GATHER_S", "WriteBehind"]

# Seconds the writer lets running trials' reports pile up between passes: each pass is a store
# transaction, so a short interval costs the driver's CPU a share of every epoch.
BATCH_INTERVAL = 2.0
GATHER_S = 0.25  # after a trial's end, how long the writer gathers more before a pass
_BACKOFF = (0.2, 8.0)  # first and longest wait between retries of a failed write
_RUNS_PER_TAKE = 8  # runs a writer thread takes at once when several threads share the queue
_PERMANENT = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "INVALID_STATE"}  # retrying cannot help


class WriteBehind:
    """Records waiting for ``backend``, and the threads writing them.

    Records of one run are written in the order they were queued, by one thread at a time.
    """

    def __init__(self, backend: Backend, *, name: str) -> None:
        self.backend = backend
        self.error = ""  # the store's last error
        self.rejected: list[tuple[RunWrite, str]] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._closing = threading.Event()  # write everything at once, without gathering
        self._pending: list[RunWrite] = []
        self._open: dict[str, RunWrite] = {}  # each running trial's record still taking metrics
        self._busy: set[str] = set()  # runs a thread is writing
        self._signalled = False
        self._progress_at = time.monotonic()
        self._threads = [
            threading.Thread(target=self._run, name=f"sweepnet-tracking {name} {index}", daemon=True)
            for index in range(backend.threads)
        ]
        for thread in self._threads:
            thread.start()

    # ----------------------------------------------------------------- driver side (cheap)

    def push(self, record: RunWrite, *, taking: bool = False) -> None:
        """Queue ``record``; ``taking``: the run's next metrics may be added to it."""
        with self._lock:
            if not self._pending:  # the time the queue was empty was no stall
                self._progress_at = time.monotonic()
            self._pending.append(record)
            if taking:
                self._open[record.key] = record
            self._signal()

    def add_metrics(self, key: str, points: list[tuple[str, float, int, int]]) -> None:
        """Queue metric points of run ``key``: with its open record, or in a new one."""
        with self._lock:
            record = self._open.get(key)  # a record a writer took is no longer open
            if record is None:
                record = self._open[key] = RunWrite(key)
                self._pending.append(record)
            record.metrics.extend(points)  # written at the writer's next pass

    def end(self, record: RunWrite) -> None:
        """Queue the end of run ``record.key``: into its open record when no writer took that yet."""
        with self._lock:
            held = self._open.pop(record.key, None)  # not taken by a writer yet: one write for both
            if held is not None and record.create is None:
                held.tags.update(record.tags)
                held.metrics.extend(record.metrics)
                held.artifacts.update(record.artifacts)
                held.status, held.end_ms = record.status, record.end_ms
            else:
                self._pending.append(record)
            self._signal()

    def pending_runs(self) -> int:
        """Trial runs with something still to write (the parent run not counted)."""
        with self._lock:
            return self._pending_trials()

    # ----------------------------------------------------------------- ending

    def drain(
        self,
        stall_timeout: float,
        *,
        waiting: Callable[[int], None] | None = None,
        interrupted: threading.Event | None = None,
    ) -> str | None:
        """Write everything now; return when done (None), or why it stopped: the store made no
        progress for ``stall_timeout`` seconds, or ``interrupted`` was set.

        ``waiting(runs)`` is called about four times a second while trial runs are left. The writer
        threads are stopped either way; what is left is :meth:`unwritten`.
        """
        reason = None
        with self._lock:
            self._progress_at = time.monotonic()  # an outage during the sweep gets the full timeout now
            self._closing.set()
            self._signal()
            while self._pending:
                if interrupted is not None and interrupted.is_set():
                    reason = "interrupted"
                    break
                if time.monotonic() - self._progress_at > stall_timeout:
                    reason = f"no progress for {stall_timeout:g} s ({self.error or 'no answer'})"
                    break
                if waiting is not None:
                    count = self._pending_trials()
                    self._lock.release()
                    try:
                        waiting(count)
                    finally:
                        self._lock.acquire()
                self._wake.wait(timeout=0.25)
        self.stop()
        return reason

    def stop(self, timeout: float = 30) -> None:
        """Stop the writer threads; a write in flight finishes (or times out) first."""
        self._stop.set()
        with self._lock:
            self._signal()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def unwritten(self) -> list[RunWrite]:
        """The records not written (after :meth:`drain` or :meth:`stop`)."""
        with self._lock:
            return list(self._pending)

    # ----------------------------------------------------------------- writer threads

    def _run(self) -> None:
        delay = _BACKOFF[0]
        while not self._stop.is_set():
            with self._lock:
                if not (self._closing.is_set() and self._eligible()):
                    self._wake.wait_for(lambda: self._signalled or self._stop.is_set(), timeout=BATCH_INTERVAL)
                self._signalled = False
            if not self._closing.is_set():
                self._closing.wait(GATHER_S)  # the trials ending meanwhile go in the same pass
            try:
                self._pass()
            except Exception as err:  # the store is down or failing: keep everything, retry later
                self.error = one_line(err)
                self._stop.wait(delay)
                delay = min(2 * delay, _BACKOFF[1])
                with self._lock:
                    self._signal()
                continue
            delay = _BACKOFF[0]

    def _pass(self) -> None:
        """Take the records this thread may write now, write them, drop them from the queue."""
        with self._lock:
            batch = self._take()
        if not batch:
            with self._lock:
                if not self._pending:
                    self._progress_at = time.monotonic()  # nothing to do is not a stall
            return
        try:
            self._write(batch)
        finally:
            with self._lock:
                rejected = {record for record, _ in self.rejected}
                done = [record for record in batch if record.is_empty() or record in rejected]
                for record in done:
                    self._pending.remove(record)
                if done:
                    self._progress_at = time.monotonic()
                self._busy.difference_update(record.key for record in batch)
                self._signal()

    def _write(self, batch: Sequence[RunWrite]) -> None:
        """Write ``batch``; a batch with a rejected record is written record by record, so only
        that one is set aside."""
        from mlflow.exceptions import MlflowException
        from sqlalchemy.exc import IntegrityError

        try:
            self.backend.write(batch, self._progressed)
            return
        except (MlflowException, IntegrityError) as err:
            if isinstance(err, MlflowException) and err.error_code not in _PERMANENT:
                raise
            if len(batch) == 1:
                self.rejected.append((batch[0], one_line(err)))
                return
        for record in batch:
            self._write([record])

    def _progressed(self) -> None:
        """A write reached the store (called by the backend, unlocked)."""
        self._progress_at = time.monotonic()

    def _take(self) -> list[RunWrite]:
        """The pending records of runs no other thread is writing, in queue order, whole runs at a
        time (at most ``_RUNS_PER_TAKE`` runs when threads share the queue); called locked."""
        batch: list[RunWrite] = []
        runs: set[str] = set()
        held: set[str] = set()  # runs with an earlier record that must wait: their later ones wait too
        limit = _RUNS_PER_TAKE if len(self._threads) > 1 else None
        for record in self._pending:
            key = record.key
            if key in self._busy or key in held:
                continue
            if self._young_start(record) or (record.after_all and self._others_pending(record)):
                held.add(key)
                continue
            if key not in runs and limit is not None and len(runs) >= limit:
                held.add(key)
                continue
            runs.add(key)
            batch.append(record)
        self._busy.update(runs)
        for record in batch:
            if self._open.get(record.key) is record:
                del self._open[record.key]  # later metrics of the run go to a new record
        return batch

    def _pending_trials(self) -> int:
        return len({record.key for record in self._pending if record.key})

    def _others_pending(self, record: RunWrite) -> bool:
        """True while records of other runs are queued or being written; called locked."""
        return any(other.key != record.key for other in self._pending)

    def _eligible(self) -> bool:
        return any(record.key not in self._busy for record in self._pending)

    def _young_start(self, record: RunWrite) -> bool:
        """True for the start of a running trial queued less than ``BATCH_INTERVAL`` ago: it waits,
        taking the trial's reports and maybe its end, so a short trial is one write."""
        if record.create is None or self._open.get(record.key) is not record or self._closing.is_set():
            return False
        return time.monotonic() - record.queued < BATCH_INTERVAL

    def _signal(self) -> None:
        """Wake the writer threads; called locked."""
        self._signalled = True
        self._wake.notify_all()
