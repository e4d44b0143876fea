"""MLflow tracking: the durable record of every sweep and trial (a built-in plugin).

Layout, one MLflow experiment per sweep ``name``::

    parent run "<name>"               one sweep invocation; ``--resume`` reuses the latest one
      tags       sweepnet.kind=sweep, sweepnet.metric, sweepnet.mode, sweepnet.overrides (JSON),
                 sweepnet.version, sweepnet.plugins (JSON: provider -> version), sweepnet.best_trial
      artifacts  sweep.yaml (the file as written), config.yaml (validated), data_meta.json,
                 leaderboard.csv/.md, plots/*.png, report.html, best_model.npz, best.json,
                 model/ (the best model as an MLflow Model: MLmodel with the python_function
                 flavour of sweepnet.pyfunc, and model.npz)
      metrics    final/<name>: the best trial's final metrics
    child run "trial-007-3fa9c2d1"    one trial, nested (tag mlflow.parentRunId)
      params     its hyperparameters by dotted path ("model.hidden_dims[0]" -> "model.hidden_dims.0")
      metrics    loss, train_acc / val_acc (or train_rmse / val_rmse), lr ... at step=epoch;
                 final/<name> (best val_acc, test_acc ...) and iteration/loss (the training
                 loss at step=iteration, at most 1000 points) when it ends
      tags       sweepnet.state, .trial_id, .trial_number, .seed, .params (JSON), .config (JSON),
                 .node, .worker, .duration_s, .retries, .error (short), .version, .plugins
      artifacts  curves.png, model.npz (a model file, see sweepnet.bundle: the best model survives
                 a driver crash), error.txt

Final metrics carry the ``final/`` prefix so that a per-epoch series (``val_acc`` at each
step) and the trial's result (its best ``val_acc``) never share a key.

The store: ``--tracking-uri`` (commands) > the sweep config's ``tracking.uri`` >
``$MLFLOW_TRACKING_URI`` > :data:`DEFAULT_TRACKING_URI`, a SQLite file under the working
directory, ``sqlite:///sweepnet-results/mlflow.db``, with artifacts in
``sweepnet-results/artifacts`` (git-ignored). Any SQLite store keeps its artifacts in an
``artifacts`` folder next to the database; an ``mlflow server`` (``http://127.0.0.1:5000``)
keeps them itself. ``tracking: {enabled: false}`` turns the tracker off.

Writes never block the driver: the hooks append to a queue that a writer thread flushes with
``MlflowClient.log_batch`` (every epoch reported since its last pass goes in one batch). It
writes a trial's end within 0.25 s and running trials' reports every 2 s, so no backlog is left
for the end of the sweep and a short trial's start, reports and end make one write. Failed
writes stay queued and are retried with backoff; ``sweepnet_sweep_end`` waits for the queue to
drain (``tracking.flush_timeout`` seconds, default 60) and otherwise saves what is unwritten to
a JSON file and raises :class:`TrackingError` naming the store and the file.

``mlflow`` is imported inside functions only: Ray workers import this module when they build
the registries and must not load MLflow. On the driver, ``sweepnet_sweep_prepare`` imports it and
opens the store while Ray starts, which costs seconds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import cache, partial
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
import yaml

from sweepnet import __version__, hookimpl, leaderboard
from sweepnet.errors import ConfigError, SweepnetError
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = [
    "DEFAULT_FLUSH_TIMEOUT",
    "DEFAULT_TRACKING_URI",
    "FINAL_PREFIX",
    "ITERATION_LOSS",
    "SweepRecord",
    "TrackingError",
    "model_file",
    "read_artifact",
    "read_iteration_loss",
    "read_sweep",
    "recorded_sweep",
    "resolve_tracking_uri",
    "sqlite_path",
    "sweepnet_sweep_end",
    "sweepnet_sweep_history",
    "sweepnet_sweep_prepare",
    "sweepnet_sweep_start",
    "sweepnet_trial_end",
    "sweepnet_trial_report",
    "sweepnet_trial_start",
    "sweep_file",
    "trial_history",
]

DEFAULT_TRACKING_URI = "sqlite:///sweepnet-results/mlflow.db"
DEFAULT_FLUSH_TIMEOUT = 60.0
FINAL_PREFIX = "final/"

_SWEEP = ""  # queue key of the parent run; trial runs are keyed by trial id
_TAG = "sweepnet."
_MAX_TAG = 8000  # MLflow's limit on a tag value
_MAX_PARAM = 6000  # ... on a param value
# Seconds the writer lets running trials' reports pile up between batches: each batch is a store
# transaction (~20 ms on SQLite), so a short interval costs the driver's CPU a share of every epoch.
# A trial's end is written within _GATHER_S.
_BATCH_INTERVAL = 2.0
_GATHER_S = 0.25  # after a trial's end, how long the writer gathers more before a pass
_BACKOFF = (0.2, 8.0)  # first and longest wait between retries of a failed write
_READ_THREADS = 8  # concurrent metric-history reads when rebuilding a sweep
_PERMANENT = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "INVALID_STATE"}  # retrying cannot help
_RUN_STATUS = {
    TrialState.RUNNING: "RUNNING",
    TrialState.COMPLETED: "FINISHED",
    TrialState.PRUNED: "FINISHED",
    TrialState.DIVERGED: "FAILED",
    TrialState.FAILED: "FAILED",
    TrialState.KILLED: "KILLED",
}

_trackers: dict[str, _Tracker] = {}  # the running invocation of each sweep, by sweep name


class TrackingError(SweepnetError):
    """The tracking store cannot be read or written; the message names the store."""


def resolve_tracking_uri(flag: str | None = None, config_uri: str | None = None) -> str:
    """The store to use: ``flag`` (``--tracking-uri``) > ``config_uri`` (``tracking.uri``) >
    ``$MLFLOW_TRACKING_URI`` > :data:`DEFAULT_TRACKING_URI`."""
    return flag or config_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


# --------------------------------------------------------------------------- lifecycle hooks


@hookimpl
def sweepnet_sweep_prepare(sweep: SweepInfo) -> None:
    """Import MLflow and open the store while Ray starts (about 5 s on 2 cores), so that
    ``sweepnet_sweep_start`` finds both ready: MLflow keeps a store's engine for the process."""
    settings = _settings(sweep)
    if settings.get("enabled", True):
        _client(resolve_tracking_uri(config_uri=settings.get("uri")))


@hookimpl
def sweepnet_sweep_start(sweep: SweepInfo) -> None:
    """Open the sweep's parent run (a new one, or the latest one when ``sweep.resumed``)."""
    settings = _settings(sweep)
    if not settings.get("enabled", True):
        return
    previous = _trackers.pop(sweep.name, None)
    if previous is not None:  # an invocation in this process that never ended
        previous.abandon()
    _trackers[sweep.name] = _Tracker(sweep, resolve_tracking_uri(config_uri=settings.get("uri")), settings)


@hookimpl
def sweepnet_trial_start(sweep: SweepInfo, trial: TrialSpec) -> None:
    """Queue the trial's child run: its params and identifying tags."""
    if tracker := _trackers.get(sweep.name):
        tracker.trial_start(trial)


@hookimpl
def sweepnet_trial_report(sweep: SweepInfo, trial: TrialSpec, epoch: int, metrics: dict[str, float]) -> None:
    """Queue one epoch's metrics at ``step=epoch``."""
    if tracker := _trackers.get(sweep.name):
        tracker.trial_report(trial, epoch, metrics)


@hookimpl
def sweepnet_trial_end(sweep: SweepInfo, trial: TrialSpec, result: TrialResult) -> None:
    """Queue the trial's final metrics, tags, curves, weights and traceback, and close its run."""
    if tracker := _trackers.get(sweep.name):
        tracker.trial_end(trial, result)


@hookimpl
def sweepnet_sweep_end(sweep: SweepInfo, results: list[TrialResult]) -> None:
    """Log the leaderboard, plots and best model on the parent run, then wait for every write.

    Raises
    ------
    TrackingError
        when the store still cannot be written after ``tracking.flush_timeout`` seconds (or
        rejected a write); the unwritten data is saved first to a JSON file the message names.
    """
    tracker = _trackers.pop(sweep.name, None)
    if tracker is not None:
        tracker.sweep_end(results)


@hookimpl
def sweepnet_sweep_history(sweep: SweepInfo) -> list[tuple[TrialSpec, TrialResult]] | None:
    """The trials recorded under the sweep's latest parent run, with states and per-epoch histories.

    None when tracking is disabled; an empty list when the store holds no such sweep.
    """
    settings = _settings(sweep)
    if not settings.get("enabled", True):
        return None
    uri = resolve_tracking_uri(config_uri=settings.get("uri"))
    record = _read(uri, sweep.name, histories=True, sweep_config=sweep.config)
    return [] if record is None else record.entries


def _settings(sweep: SweepInfo) -> dict[str, Any]:
    """The sweep config's ``tracking`` section (``uri``, ``enabled``, ``flush_timeout``)."""
    settings = sweep.config.get("tracking") or {}
    if not isinstance(settings, dict):
        raise ConfigError("tracking", f"must be a mapping, got {settings!r}")
    return settings


# --------------------------------------------------------------------------- the writer


@dataclass(eq=False)
class _Write:
    """Pending writes to one run, emptied field by field as they reach the store (so a retry
    resumes where a failure stopped and the JSON fallback holds exactly what is unwritten).

    ``artifacts`` values are bytes, or a callable making them on the writer thread (None: skip).
    """

    run: str
    create: dict[str, str] | None = None  # tags of a run to create (replacing an earlier run of it)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # key, value, ms, step
    artifacts: dict[str, bytes | Callable[[], bytes | None]] = field(default_factory=dict)
    status: str | None = None  # terminate the run with this MLflow status
    fill: Callable[[_Write], None] | None = None  # completes the record on the writer, before it is written
    taken: bool = False  # the writer has picked it up: further metrics go to a new record
    queued: float = field(default_factory=time.monotonic)  # when the hook made it (see _young_start)


class _Tracker:
    """One sweep invocation: the hooks queue writes, a daemon thread flushes them to ``uri``."""

    def __init__(self, sweep: SweepInfo, uri: str, settings: dict[str, Any]) -> None:
        self.sweep, self.uri = sweep, _absolute(uri)
        self.flush_timeout = float(settings.get("flush_timeout", DEFAULT_FLUSH_TIMEOUT))
        self.client = _client(self.uri)  # a bad URI fails here, before any trial runs
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drained = threading.Condition(self._lock)
        self._closing = threading.Event()  # set by _close: write everything without waiting
        self._pending: list[_Write] = []
        self._open: dict[str, _Write] = {}  # each running trial's record still taking metrics
        self._rejected: list[tuple[_Write, str]] = []
        self._error = ""  # the store's last error
        self._experiment_id: str | None = None
        self._run_ids: dict[str, str] = {}
        self._previous: dict[str, leaderboard.Entry] = {}  # trials of earlier invocations (resume)
        self._entries: dict[str, leaderboard.Entry] = {}  # this invocation's ended trials, without weights
        self._specs: dict[str, TrialSpec] = {}
        self._reported: dict[str, set[int]] = {}
        self._best: tuple[leaderboard.Entry, dict[str, np.ndarray]] | None = None
        versions = json.dumps(_plugin_versions(), sort_keys=True)
        self._common_tags = {f"{_TAG}version": __version__, f"{_TAG}plugins": versions}
        self._push(
            _Write(
                _SWEEP,
                tags={
                    **self._common_tags,
                    f"{_TAG}metric": sweep.metric,
                    f"{_TAG}mode": sweep.mode,
                    f"{_TAG}overrides": json.dumps(list(sweep.overrides)),
                },
                artifacts={
                    "sweep.yaml": sweep.config_text.encode(),
                    "config.yaml": yaml.safe_dump(sweep.config, sort_keys=False).encode(),
                    **_data_meta_artifact(sweep),
                },
            )
        )
        self._thread = threading.Thread(target=self._run, name=f"sweepnet-tracking {sweep.name}", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- driver side (cheap)

    def trial_start(self, trial: TrialSpec) -> None:
        self._specs[trial.trial_id] = trial
        self._reported[trial.trial_id] = set()
        self._push(_Write(trial.trial_id, create=self._child_tags(trial), params=_params(trial.params)), taking=True)

    def trial_report(self, trial: TrialSpec, epoch: int, metrics: dict[str, float]) -> None:
        stamp = _now_ms()
        points = [(_key(key), float(value), stamp, int(epoch)) for key, value in metrics.items() if key != "epoch"]
        with self._lock:
            self._reported.setdefault(trial.trial_id, set()).add(int(epoch))
            record = self._open.get(trial.trial_id)
            if record is None or record.taken:
                record = _Write(trial.trial_id)
                self._pending.append(record)
                self._open[trial.trial_id] = record
            record.metrics.extend(points)  # written at the writer's next pass: within _BATCH_INTERVAL

    def trial_end(self, trial: TrialSpec, result: TrialResult) -> None:
        started = trial.trial_id in self._specs
        spec = self._specs.setdefault(trial.trial_id, trial)
        reported = self._reported.pop(trial.trial_id, set())
        stamp = _now_ms()
        unreported = [  # epochs the scheduler did not stream (or a trial that ran without reports)
            (_key(key), float(value), stamp, int(row.get("epoch", number)))
            for number, row in enumerate(result.history, start=1)
            if int(row.get("epoch", number)) not in reported
            for key, value in row.items()
            if key != "epoch"
        ]
        artifacts: dict[str, bytes | Callable[[], bytes | None]] = {
            "curves.png": partial(_curves_png, result.history, _run_name(spec))
        }
        end_tags = _end_tags(result)
        if result.weights:
            artifacts["model.npz"] = partial(_model_npz, self.sweep, spec, result)
            end_tags[f"{_TAG}model"] = "model.npz"
        if result.error:
            artifacts["error.txt"] = result.error.encode()
        end = _Write(
            trial.trial_id,
            create=None if started else self._child_tags(spec),
            params={} if started else _params(spec.params),
            tags=end_tags,
            metrics=unreported + _final_metrics(result.metrics) + _iteration_points(result),
            artifacts=artifacts,
            status=_RUN_STATUS[result.state],
        )
        with self._lock:
            record = self._open.pop(trial.trial_id, None)
            merged = record is not None and not record.taken and end.create is None
            if merged:  # the writer has not picked up the trial's last record: one write for both
                record.tags.update(end.tags)
                record.metrics.extend(end.metrics)
                record.artifacts.update(end.artifacts)
                record.status = end.status
        if merged:
            self._wake.set()
        else:
            self._push(end)
        self._entries[trial.trial_id] = (spec, replace(result, weights=None))
        if result.weights and self._is_best(spec, result):
            self._best = ((spec, result), result.weights)  # the only weights kept in memory

    def sweep_end(self, results: list[TrialResult]) -> None:
        killed = any(result.state is TrialState.KILLED for result in results)
        self._push(_Write(_SWEEP, fill=self._summarise, status="KILLED" if killed else "FINISHED"))
        self._close()

    def abandon(self) -> None:
        """Stop writing without flushing (a newer invocation of the same sweep took over)."""
        self._stop.set()
        self._wake.set()

    def _push(self, record: _Write, *, taking: bool = False) -> None:
        """Queue ``record``; ``taking``: the trial's next reports may be added to it."""
        with self._lock:
            self._pending.append(record)
            if taking:
                self._open[record.run] = record
        self._wake.set()

    def _child_tags(self, trial: TrialSpec) -> dict[str, str]:
        tags = {
            "mlflow.runName": _run_name(trial),
            f"{_TAG}kind": "trial",
            f"{_TAG}state": TrialState.RUNNING.value,
            f"{_TAG}trial_id": trial.trial_id,
            f"{_TAG}trial_number": str(trial.number),
            f"{_TAG}seed": str(trial.seed),
            f"{_TAG}params": json.dumps(trial.params),
            **self._common_tags,
        }
        config = json.dumps(trial.config, separators=(",", ":"))
        if len(config) <= _MAX_TAG:  # else resume re-resolves it from the sweep config
            tags[f"{_TAG}config"] = config
        return tags

    def _is_best(self, spec: TrialSpec, result: TrialResult) -> bool:
        contenders = [(spec, result)] + ([self._best[0]] if self._best else [])
        return leaderboard.rank(contenders, self.sweep.metric, self.sweep.mode)[0][0] is spec

    def _summarise(self, summary: _Write) -> None:
        """Fill the parent's final write: leaderboard, plots, best model and metrics.

        Runs on the writer once the parent is open, so a resumed sweep's earlier trials are known.
        """
        entries = list({**self._previous, **self._entries}.values())
        metric, mode = self.sweep.metric, self.sweep.mode
        ranked = leaderboard.rank(entries, metric, mode)
        artifacts: dict[str, bytes | Callable[[], bytes | None]] = {
            "leaderboard.csv": leaderboard.to_csv(entries, metric, mode).encode(),
            "leaderboard.md": leaderboard.to_markdown(entries, metric, mode).encode(),
        }
        best = ranked[0] if ranked and _scored(ranked[0][1], metric) else None  # rank puts scored trials first
        weights = self._best[1] if best and self._best and self._best[0][0].trial_id == best[0].trial_id else None
        artifacts |= _report_artifacts(self, summary, entries, weights)
        summary.tags[f"{_TAG}trials"] = str(len(entries))
        summary.artifacts = artifacts
        if best is not None:
            spec, result = best
            if weights:
                model = cache(partial(_model_npz, self.sweep, *self._best[0]))
            else:  # the best of an earlier invocation is no longer in memory: copy its run's model.npz
                model = cache(partial(self._download, spec.trial_id, "model.npz"))
            artifacts["best_model.npz"] = model
            artifacts |= _python_model(model, self._run_ids.get(_SWEEP))
            artifacts["best.json"] = partial(self._best_json, spec, result)
            summary.tags[f"{_TAG}best_trial"] = spec.trial_id
            summary.metrics = _final_metrics(result.metrics)

    def _best_json(self, spec: TrialSpec, result: TrialResult) -> bytes:
        summary = {
            "trial_id": spec.trial_id,
            "number": spec.number,
            "state": result.state.value,
            "seed": spec.seed,
            "params": spec.params,
            "metrics": result.metrics,
            "run_id": self._run_ids.get(spec.trial_id),
        }
        return json.dumps(summary, indent=2).encode()

    def _download(self, trial_id: str, path: str) -> bytes | None:
        """An artifact of a trial's run (the best model of an earlier invocation)."""
        run_id = self._run_ids.get(trial_id)
        if run_id is None or path not in {info.path for info in self.client.list_artifacts(run_id)}:
            return None
        return _artifact_bytes(self.client, run_id, path)

    # ----------------------------------------------------------------- writer thread

    def _run(self) -> None:
        """Write what is pending when a trial or the sweep ends, and every ``_BATCH_INTERVAL``
        seconds (the reports of running trials); retry with backoff while the store fails."""
        delay = _BACKOFF[0]
        while not self._stop.is_set():
            if not (self._closing.is_set() and self._pending) and self._wake.wait(_BATCH_INTERVAL):
                self._closing.wait(_GATHER_S)  # the trials ending meanwhile go in the same pass
            self._wake.clear()
            try:
                self._flush()
            except Exception as err:  # the store is down or failing: keep everything, retry later
                self._error = _one_line(err)
                self._stop.wait(delay)
                delay = min(2 * delay, _BACKOFF[1])
                self._wake.set()
                continue
            delay = _BACKOFF[0]

    def _flush(self) -> None:
        from mlflow.exceptions import MlflowException

        if self._experiment_id is None:
            self._open_parent()
        with self._lock:
            batch = [record for record in self._pending if not self._young_start(record)]
            for record in batch:
                record.taken = True
        for record in batch:
            if self._stop.is_set():
                return
            try:
                self._write(record)
            except MlflowException as err:
                if err.error_code not in _PERMANENT:
                    raise
                self._rejected.append((record, _one_line(err)))
            with self._lock:
                self._pending.remove(record)
                if not self._pending:
                    self._drained.notify_all()

    def _young_start(self, record: _Write) -> bool:
        """True for the start of a running trial queued less than ``_BATCH_INTERVAL`` ago: it waits,
        taking the trial's reports and maybe its end, so a short trial is one write."""
        if record.create is None or self._open.get(record.run) is not record or self._closing.is_set():
            return False
        return time.monotonic() - record.queued < _BATCH_INTERVAL

    def _open_parent(self) -> None:
        """Find or create the experiment and the parent run (the latest one when resuming)."""
        experiment_id = _experiment_id(self.client, self.sweep.name, self.uri)
        parent = _latest_parent(self.client, experiment_id) if self.sweep.resumed else None
        if parent is None:
            parent = self.client.create_run(experiment_id, run_name=self.sweep.name, tags={f"{_TAG}kind": "sweep"})
        else:
            self.client.update_run(parent.info.run_id, status="RUNNING")
            runs = _children(self.client, experiment_id, parent.info.run_id)
            epochs = _histories(self.client, runs)  # the leaderboard counts each trial's epochs
            for run in runs:
                spec, result = _entry(run, epochs.get(run.info.run_id, []), self.sweep.config)
                self._previous[spec.trial_id] = (spec, result)
                self._run_ids[spec.trial_id] = run.info.run_id
        self._run_ids[_SWEEP] = parent.info.run_id
        self._experiment_id = experiment_id

    def _write(self, record: _Write) -> None:
        from mlflow.entities import Metric, Param, RunTag

        if record.fill is not None:
            record.fill(record)
            record.fill = None
        if record.create is not None:
            replaced = self._run_ids.pop(record.run, None)
            if replaced is not None:  # a re-run trial: one run per trial in the UI
                _delete_run(self.client, replaced)
            tags = {**record.create, "mlflow.parentRunId": self._run_ids[_SWEEP]}
            run = self.client.create_run(self._experiment_id, run_name=tags["mlflow.runName"], tags=tags)
            self._run_ids[record.run] = run.info.run_id
            record.create = None
        run_id = self._run_ids[record.run]
        while record.params or record.tags or record.metrics:
            params = list(record.params.items())[:100]  # MLflow: <= 100 params + tags, 1000 entities a batch
            tags = list(record.tags.items())[: 100 - len(params)]
            metrics = record.metrics[: 1000 - len(params) - len(tags)]
            self.client.log_batch(
                run_id,
                metrics=[Metric(key, value, stamp, step) for key, value, stamp, step in metrics],
                params=[Param(key, value) for key, value in params],
                tags=[RunTag(key, value) for key, value in tags],
            )
            for key, _ in params:
                del record.params[key]
            for key, _ in tags:
                del record.tags[key]
            del record.metrics[: len(metrics)]
        for name, content in list(record.artifacts.items()):
            data = content() if callable(content) else content
            record.artifacts[name] = data  # made once, even if the upload below fails
            if data is not None:
                _log_bytes(self.client, run_id, name, data)
            del record.artifacts[name]
        if record.status is not None:
            self.client.set_terminated(run_id, record.status)
            record.status = None

    def _close(self) -> None:
        """Wait for every write; on timeout or rejection save the rest and raise TrackingError."""
        deadline = time.monotonic() + self.flush_timeout
        with self._lock:
            self._closing.set()
            self._wake.set()
            while self._pending and not self._stop.is_set() and time.monotonic() < deadline:
                self._drained.wait(timeout=min(1.0, max(deadline - time.monotonic(), 0.0)))
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)  # a write in flight finishes (or times out) first
        if not self._pending and not self._rejected:
            return
        path = self._save_unwritten()
        if self._pending:
            reason = f"still unreachable after {self.flush_timeout:g} s ({self._error or 'no answer'})"
        else:
            reason = f"rejected {len(self._rejected)} write(s): {self._rejected[0][1]}"
        raise TrackingError(f"tracking store {self.uri} {reason}; the unwritten results are saved in {path}")

    def _save_unwritten(self) -> Path:
        folder = Path("sweepnet-results").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"unwritten-{_safe(self.sweep.name)}-{datetime.now():%Y%m%d-%H%M%S}.json"
        payload = {
            "tracking_uri": self.uri,
            "experiment": self.sweep.name,
            "experiment_id": self._experiment_id,
            "error": self._error,
            "runs": {key or "sweep": run_id for key, run_id in self._run_ids.items()},
            "unwritten": [self._jsonable(record) for record in self._pending],
            "rejected": [{**self._jsonable(record), "error": error} for record, error in self._rejected],
        }
        path.write_text(json.dumps(payload, indent=1))
        return path

    def _jsonable(self, record: _Write) -> dict[str, Any]:
        if record.fill is not None:  # the parent never opened: summarise what this invocation knows
            record.fill(record)
            record.fill = None
        artifacts = {}
        for name, content in record.artifacts.items():
            try:
                data = content() if callable(content) else content
            except Exception as err:  # e.g. a copy from the unreachable store
                artifacts[name] = {"unavailable": _one_line(err)}
                continue
            if data is not None:
                artifacts[name] = {"base64": base64.b64encode(data).decode()}
        return {
            "run": record.run or "sweep",
            "run_id": self._run_ids.get(record.run),
            "create_tags": record.create,
            "params": record.params,
            "tags": record.tags,
            "metrics": [{"key": k, "value": v, "timestamp": t, "step": s} for k, v, t, s in record.metrics],
            "artifacts": artifacts,
            "status": record.status,
        }


# --------------------------------------------------------------------------- reading the store


@dataclass(frozen=True)
class SweepRecord:
    """A sweep as the store holds it: the latest invocation's parent run and its trials.

    Attributes
    ----------
    run_id, artifact_uri, status : the parent run (status e.g. ``"FINISHED"``, ``"RUNNING"``).
    metric, mode : what the sweep optimises.
    overrides : the ``--set`` overrides of the latest invocation.
    entries : ``(TrialSpec, TrialResult)`` of every trial (``weights`` is None).
    models : trial id -> where its weights are: a file path (local stores) or a ``runs:/`` URI.
    experiment_id, run_ids : the sweep's experiment, and each trial's run id by trial id.
    """

    name: str
    tracking_uri: str
    run_id: str
    artifact_uri: str
    status: str
    metric: str
    mode: str
    overrides: list[str]
    entries: list[tuple[TrialSpec, TrialResult]]
    models: dict[str, str]
    experiment_id: str = ""
    run_ids: dict[str, str] = field(default_factory=dict)


def read_sweep(name: str, tracking_uri: str | None = None, *, histories: bool = False) -> SweepRecord:
    """The latest invocation of sweep ``name`` in the store (see :func:`resolve_tracking_uri`).

    Parameters
    ----------
    histories : also read every trial's per-epoch metrics into ``TrialResult.history``.

    Raises
    ------
    TrackingError
        when the store has no such sweep or cannot be read.
    """
    uri = resolve_tracking_uri(tracking_uri)
    record = _read(uri, name, histories=histories)
    if record is None:
        raise TrackingError(f"no sweep named {name!r} in tracking store {uri}")
    return record


def recorded_sweep(name: str, tracking_uri: str | None = None) -> tuple[str, list[str]]:
    """The sweep file text and ``--set`` overrides of the latest invocation of sweep ``name``.

    Raises
    ------
    TrackingError
        for an unknown sweep, an unreadable store, or a sweep that was not started from a file.
    """
    record = read_sweep(name, tracking_uri)
    return sweep_file(record), record.overrides


def _read(uri: str, name: str, *, histories: bool, sweep_config: dict | None = None) -> SweepRecord | None:
    """The record of sweep ``name``, or None when the store (or the sweep) does not exist."""
    if _missing_sqlite(uri):
        return None  # reading must not create an empty store
    client = _client(uri)
    with _store_errors(uri):
        experiment = client.get_experiment_by_name(name)
        parent = _latest_parent(client, experiment.experiment_id) if experiment else None
        if parent is None:
            return None
        runs = _children(client, experiment.experiment_id, parent.info.run_id)
        epochs = _histories(client, runs) if histories else {}
    tags = parent.data.tags
    return SweepRecord(
        name=name,
        tracking_uri=uri,
        run_id=parent.info.run_id,
        artifact_uri=parent.info.artifact_uri,
        status=parent.info.status,
        metric=tags.get(f"{_TAG}metric", ""),
        mode=tags.get(f"{_TAG}mode", "max"),
        overrides=json.loads(tags.get(f"{_TAG}overrides", "[]")),
        entries=[_entry(run, epochs.get(run.info.run_id, []), sweep_config) for run in runs],
        models={
            run.data.tags[f"{_TAG}trial_id"]: _model_location(run) for run in runs if f"{_TAG}model" in run.data.tags
        },
        experiment_id=experiment.experiment_id,
        run_ids={run.data.tags[f"{_TAG}trial_id"]: run.info.run_id for run in runs},
    )


def _entry(run: Run, history: list[dict[str, float]], sweep_config: dict | None) -> leaderboard.Entry:
    """A child run back as ``(TrialSpec, TrialResult)``."""
    tags = run.data.tags
    params = json.loads(tags[f"{_TAG}params"])
    config = json.loads(tags[f"{_TAG}config"]) if f"{_TAG}config" in tags else _resolve(sweep_config, params)
    number, seed = int(tags[f"{_TAG}trial_number"]), int(tags[f"{_TAG}seed"])
    spec = TrialSpec(tags[f"{_TAG}trial_id"], number, params, config, seed)
    metrics = {key.removeprefix(FINAL_PREFIX): v for key, v in run.data.metrics.items() if key.startswith(FINAL_PREFIX)}
    result = TrialResult(
        spec.trial_id,
        TrialState(tags[f"{_TAG}state"]),
        metrics=metrics,
        history=history,
        duration_s=float(tags.get(f"{_TAG}duration_s", 0.0)),
        error=tags.get(f"{_TAG}error"),
        node=tags.get(f"{_TAG}node"),
        worker=tags.get(f"{_TAG}worker"),
        retries=int(tags.get(f"{_TAG}retries", 0)),
    )
    return spec, result


def _histories(client: MlflowClient, runs: list[Run]) -> dict[str, list[dict[str, float]]]:
    """Per run, one ``{"epoch": step, key: value, ...}`` per step of its per-epoch metrics.

    MLflow reads one (run, key) history per request; they go out concurrently.
    """
    jobs = [
        (run.info.run_id, key)
        for run in runs
        for key in run.data.metrics
        if not key.startswith((FINAL_PREFIX, ITERATION_LOSS))  # per-iteration points are not epochs
    ]
    with ThreadPoolExecutor(_READ_THREADS) as pool:
        answers = pool.map(lambda job: client.get_metric_history(*job), jobs)
        steps: dict[str, dict[int, dict[str, float]]] = {}
        for (run_id, key), points in zip(jobs, answers, strict=True):
            for point in points:
                steps.setdefault(run_id, {}).setdefault(point.step, {"epoch": point.step})[key] = point.value
    return {run_id: [rows[step] for step in sorted(rows)] for run_id, rows in steps.items()}


# --------------------------------------------------------------------------- sweep report
# The per-iteration loss, the summary figures and report.html (issue 15), kept together here so
# that they move as one block.

ITERATION_LOSS = "iteration/loss"
"""Metric key of a trial's per-iteration training loss, at ``step`` = iteration."""


def read_artifact(record: SweepRecord, path: str, run_id: str | None = None) -> bytes | None:
    """The artifact ``path`` of the sweep's parent run (or of run ``run_id``), None when it has none.

    Raises
    ------
    TrackingError
        when the store cannot be read.
    """
    client = _client(record.tracking_uri)
    run_id = run_id or record.run_id
    folder, _, _ = path.rpartition("/")
    with _store_errors(record.tracking_uri):
        if path not in {info.path for info in client.list_artifacts(run_id, folder or None)}:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            return Path(client.download_artifacts(run_id, path, tmp)).read_bytes()


def read_iteration_loss(record: SweepRecord, specs: list[TrialSpec]) -> dict[str, np.ndarray]:
    """The recorded per-iteration loss of trials of ``record``: trial id -> ``(K, 2)`` float32
    rows ``(iteration, loss)`` (see ``TrialResult.iteration_loss``); trials without one are left out."""
    return _iteration_loss(_client(record.tracking_uri), record.tracking_uri, record.run_ids, specs)


def _iteration_loss(client: MlflowClient, uri: str, run_ids: dict[str, str], specs: list[TrialSpec]) -> dict[str, np.ndarray]:
    jobs = [(spec.trial_id, run_ids[spec.trial_id]) for spec in specs if spec.trial_id in run_ids]
    with _store_errors(uri), ThreadPoolExecutor(_READ_THREADS) as pool:
        answers = list(pool.map(lambda job: client.get_metric_history(job[1], ITERATION_LOSS), jobs))
    return {
        trial_id: np.array(sorted((point.step, point.value) for point in points), dtype=np.float32)
        for (trial_id, _), points in zip(jobs, answers, strict=True)
        if points
    }


def _iteration_points(result: TrialResult) -> list[tuple[str, float, int, int]]:
    """A trial's thinned per-iteration loss as :data:`ITERATION_LOSS` points at ``step=iteration``."""
    if result.iteration_loss is None:
        return []
    stamp = _now_ms()
    return [(ITERATION_LOSS, float(loss), stamp, int(iteration)) for iteration, loss in result.iteration_loss]


def _data_meta_artifact(sweep: SweepInfo) -> dict[str, bytes]:
    """``data_meta.json``: the data set's input shape and class names, for ``sweepnet report``'s weight pictures."""
    if sweep.data_meta is None:
        return {}
    return {"data_meta.json": json.dumps(asdict(sweep.data_meta)).encode()}


def _report_artifacts(
    tracker: _Tracker, summary: _Write, entries: list[leaderboard.Entry], weights: dict[str, np.ndarray] | None
) -> dict[str, bytes]:
    """The summary figures (``plots/*.png``) and ``report.html`` of the parent run's final write."""
    from sweepnet.report import run_links, sweep_report, ui_url

    sweep, run_ids = tracker.sweep, tracker._run_ids
    links = None
    if _SWEEP in run_ids and tracker._experiment_id is not None:  # else the store was never reached
        trial_runs = {trial_id: run_id for trial_id, run_id in run_ids.items() if trial_id != _SWEEP}
        links = run_links(ui_url(tracker.uri), tracker._experiment_id, run_ids[_SWEEP], trial_runs)
    pictures, page = sweep_report(
        sweep.name,
        entries,
        sweep.config,
        sweep.metric,
        sweep.mode,
        sweep_text=sweep.config_text,
        overrides=sweep.overrides,
        status=summary.status or "",
        links=links,
        data_meta=sweep.data_meta,
        best_weights=weights,
        iteration_loss=partial(_iteration_loss, tracker.client, tracker.uri, run_ids),
    )
    return {**pictures, "report.html": page.encode()}


# --------------------------------------------------------------------------- MLflow helpers


def _client(uri: str) -> MlflowClient:
    """A client of ``uri``; raises TrackingError for a URI MLflow cannot use."""
    # One attempt per request with a short timeout: the writer retries on its own schedule,
    # and a reader should fail in seconds, not after MLflow's two minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow's usage reports are opt-in here
    for noisy in ("mlflow.store.db.utils", "alembic"):  # "Creating initial MLflow database tables..."
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    _sync_at_checkpoints()
    with _store_errors(uri):
        if (path := sqlite_path(uri)) is not None and not path.exists():
            _create_sqlite_store(path)
        return MlflowClient(tracking_uri=uri)  # checks the URI's scheme


def _create_sqlite_store(path: Path) -> None:
    """Create the SQLite store at ``path`` atomically.

    MLflow creates its tables on first use; a second process opening the file half-way through
    (``sweepnet best`` while a sweep starts, two sweeps starting at once) would create them again
    and fail. So the tables are made in a private file that appears under ``path`` complete.

    The store keeps a write-ahead log (SQLite's WAL journal mode, set before it appears): with
    ``synchronous=NORMAL`` (:func:`_sync_at_checkpoints`) a commit then needs no fsync, and
    MLflow's writes of a trial take about 40% less time. A process that crashes loses nothing
    committed; an operating-system crash or power cut can lose the last commits, not the store.
    """
    import sqlite3

    from mlflow.tracking import MlflowClient

    path.parent.mkdir(parents=True, exist_ok=True)
    private = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        MlflowClient(tracking_uri=f"sqlite:///{private.resolve()}").search_experiments(max_results=1)
        with contextlib.closing(sqlite3.connect(private)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(private, path)
    finally:
        for leftover in (private, Path(f"{private}-wal"), Path(f"{private}-shm")):
            leftover.unlink(missing_ok=True)


@cache
def _sync_at_checkpoints() -> None:
    """Let every connection to a SQLite store in WAL mode sync at checkpoints only (see
    :func:`_create_sqlite_store`); stores in the default journal mode keep syncing every commit."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def on_connect(connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(Engine, "connect", on_connect)


@contextlib.contextmanager
def _store_errors(uri: str) -> Iterator[None]:
    """Turn MLflow and I/O errors into a one-line TrackingError naming the store."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, OSError) as err:
        raise TrackingError(f"tracking store {uri}: {_one_line(err)}") from err


def _experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=_artifact_location(uri, name))
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def _latest_parent(client: MlflowClient, experiment_id: str) -> Run | None:
    runs = client.search_runs(
        [experiment_id], f"tags.`{_TAG}kind` = 'sweep'", order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0] if runs else None


def _children(client: MlflowClient, experiment_id: str, parent_id: str) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'", max_results=1000, page_token=token
        )
        runs += [run for run in page if f"{_TAG}trial_id" in run.data.tags]
        token = page.token
        if not token:
            return sorted(runs, key=lambda run: int(run.data.tags[f"{_TAG}trial_number"]))


def _delete_run(client: MlflowClient, run_id: str) -> None:
    """Delete a run, unless someone already did."""
    from mlflow.exceptions import MlflowException

    try:
        client.delete_run(run_id)
    except MlflowException as err:
        if err.error_code not in _PERMANENT:
            raise


def _log_bytes(client: MlflowClient, run_id: str, name: str, data: bytes) -> None:
    """Upload ``data`` as the artifact ``name`` (e.g. ``"plots/heatmap.png"``)."""
    folder, _, filename = name.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_bytes(data)
        client.log_artifact(run_id, str(path), folder or None)


def _artifact_location(uri: str, name: str) -> str | None:
    """Artifacts of a SQLite store live next to it, one folder per sweep; servers choose their own."""
    path = sqlite_path(uri)
    return None if path is None else (path.parent / "artifacts" / _safe(name)).resolve().as_uri()


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store (relative to the working directory), else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def _missing_sqlite(uri: str) -> bool:
    path = sqlite_path(uri)
    return path is not None and not path.exists()


def _absolute(uri: str) -> str:
    """A relative SQLite path made absolute, so the store does not move with the working directory."""
    path = sqlite_path(uri)
    return uri if path is None else f"sqlite:///{path.resolve()}"


def _model_location(run: Run) -> str:
    """The trial's ``model.npz``: a path when the artifacts are local files, else a ``runs:/`` URI."""
    location = urlparse(f"{run.info.artifact_uri}/{run.data.tags[f'{_TAG}model']}")
    if location.scheme in ("", "file"):
        return location.path
    return f"runs:/{run.info.run_id}/{run.data.tags[f'{_TAG}model']}"


# --------------------------------------------------------------------------- values


def _key(name: str) -> str:
    """An MLflow param/metric key for a dotted path: ``a.b[0]`` -> ``a.b.0``; other odd characters -> ``_``."""
    return re.sub(r"[^\w.\- /:]", "_", re.sub(r"\[(\d+)\]", r".\1", name))[:250]


def _params(params: dict[str, Any]) -> dict[str, str]:
    return {_key(path): _text(value)[:_MAX_PARAM] for path, value in params.items()}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _scored(result: TrialResult, metric: str) -> bool:
    """True for a completed or pruned trial with a finite ``metric``: one that can be the best."""
    finished = result.state in (TrialState.COMPLETED, TrialState.PRUNED)
    return finished and math.isfinite(result.metrics.get(metric, math.nan))


def _final_metrics(metrics: dict[str, float]) -> list[tuple[str, float, int, int]]:
    """A trial's result metrics as ``final/<name>`` points (a single value each, at step 0)."""
    stamp = _now_ms()
    return [(_key(FINAL_PREFIX + key), float(value), stamp, 0) for key, value in metrics.items()]


def _end_tags(result: TrialResult) -> dict[str, str]:
    tags = {
        f"{_TAG}state": result.state.value,
        f"{_TAG}duration_s": f"{result.duration_s:.3f}",
        f"{_TAG}retries": str(result.retries),
    }
    for name in ("node", "worker"):
        if getattr(result, name) is not None:
            tags[f"{_TAG}{name}"] = str(getattr(result, name))
    if result.error:
        lines = [line for line in result.error.strip().splitlines() if line.strip()]
        tags[f"{_TAG}error"] = lines[-1].strip()[:250] if lines else ""
    return tags


def _run_name(trial: TrialSpec) -> str:
    return f"trial-{trial.number:03d}-{trial.trial_id[:8]}"


def _curves_png(history: list[dict[str, float]], title: str) -> bytes | None:
    from sweepnet import plots

    return plots.trial_curves_png(history, title)


def _plugin_versions() -> dict[str, str]:
    """provider -> version of every registered component's distribution."""
    from sweepnet.pluginmanager import get_registries

    return {c.provider: c.version for _, registry in get_registries().items() for c in registry}


def _resolve(sweep_config: dict | None, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's config rebuilt from the sweep's (for trials whose config was too long for a tag)."""
    from sweepnet.search import SearchSpace

    try:
        return SearchSpace(sweep_config or {}).resolve(params)
    except ConfigError:  # the space changed since: the params and id still identify the trial
        return {}


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())[:500]


# --------------------------------------------------------------------------- model files and recorded trials
# (issue 13: the model file of a trial, the best model as an MLflow Model, load_model, sweepnet trial --trial)

_MODEL_FILES = {"trial": "model.npz", "sweep": "best_model.npz"}  # by the run's sweepnet.kind
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def _model_npz(sweep: SweepInfo, spec: TrialSpec, result: TrialResult) -> bytes:
    """The model file of a trial (:mod:`sweepnet.bundle`): weights, state, config, preprocessing."""
    from sweepnet.bundle import ModelBundle

    trial = {
        "sweep": sweep.name,
        "trial_id": spec.trial_id,
        "number": spec.number,
        "seed": spec.seed,
        "state": result.state.value,
        "params": spec.params,
        "metrics": result.metrics,
    }
    bundle = ModelBundle(result.weights or {}, result.model_state or {}, spec.config, sweep.data_meta, trial)
    return bundle.to_bytes()


def _python_model(model: Callable[[], bytes | None], run_id: str | None) -> dict[str, Callable[[], bytes | None]]:
    """The artifacts of the MLflow Model ``model/``: the model file and an ``MLmodel`` whose
    ``python_function`` flavour loads it with :mod:`sweepnet.pyfunc` (code from the installed
    package, weights through ``np.load(..., allow_pickle=False)``: no pickle)."""

    def mlmodel() -> bytes | None:
        if model() is None:
            return None
        import mlflow.pyfunc
        from mlflow.models import Model

        description = Model(artifact_path="model", run_id=run_id)
        mlflow.pyfunc.add_to_model(description, loader_module="sweepnet.pyfunc", data="model.npz")
        return description.to_yaml().encode()

    return {"model/model.npz": model, "model/MLmodel": mlmodel}


def model_file(ref: str, tracking_uri: str | None = None) -> tuple[bytes, str]:
    """The model file ``ref`` names in the store, and where it came from (for messages).

    Parameters
    ----------
    ref : a run id (a trial's run: its ``model.npz``; a sweep's parent run: its
        ``best_model.npz``) or a sweep name (the best trial of its latest invocation).
    tracking_uri : see :func:`resolve_tracking_uri`.

    Raises
    ------
    TrackingError
        for an unknown name or run, a sweep without a scored trial, or a trial without weights.
    """
    uri = resolve_tracking_uri(tracking_uri)
    if _missing_sqlite(uri):
        raise TrackingError(f"{ref!r} is no model file, and there is no tracking store {uri}")
    client = _client(uri)
    with _store_errors(uri):
        run = _run_if_any(client, ref)
        if run is not None:
            kind = run.data.tags.get(f"{_TAG}kind", "")
            if kind not in _MODEL_FILES:
                raise TrackingError(f"run {ref} in {uri} is not a sweepnet trial or sweep")
            name = _MODEL_FILES[kind]
            if name not in {info.path for info in client.list_artifacts(ref)}:
                raise TrackingError(f"{kind} run {ref} in {uri} has no {name} (no weights were kept)")
            return _artifact_bytes(client, ref, name), f"{name} of run {ref} in {uri}"
        record = _read(uri, ref, histories=False)
        if record is None:
            raise TrackingError(f"no model file, run or sweep named {ref!r} (tracking store {uri})")
        ranked = leaderboard.rank(record.entries, record.metric, record.mode)
        if not ranked or not _scored(ranked[0][1], record.metric):
            raise TrackingError(f"sweep {ref!r} in {uri}: no trial has finished with a {record.metric} yet")
        spec = ranked[0][0]
        location = record.models.get(spec.trial_id)
        if location is None:
            best = f"its best trial {spec.number} ({spec.trial_id[:8]})"
            raise TrackingError(f"sweep {ref!r} in {uri}: {best} kept no weights")
        if location.startswith("runs:/"):
            run_id, _, path = location.removeprefix("runs:/").partition("/")
            data = _artifact_bytes(client, run_id, path)
        else:
            data = Path(location).read_bytes()
        return data, f"model.npz of trial {spec.number} ({spec.trial_id[:8]}) of sweep {ref!r} in {uri}"


def sweep_file(record: SweepRecord) -> str:
    """The sweep file as written, from ``record``'s parent run (what :func:`recorded_sweep` reads).

    Raises
    ------
    TrackingError
        for an unreadable store, or a sweep that was not started from a file.
    """
    client = _client(record.tracking_uri)
    with _store_errors(record.tracking_uri):
        text = _artifact_bytes(client, record.run_id, "sweep.yaml").decode()
    if not text.strip():
        raise TrackingError(f"sweep {record.name!r} in {record.tracking_uri} was not started from a sweep file")
    return text


def trial_history(record: SweepRecord, trial_id: str) -> list[dict[str, float]]:
    """The per-epoch metrics of one trial of ``record`` (``{"epoch": 1, "loss": ...}`` per epoch).

    Reads that trial's run only, however many trials the sweep has.
    """
    client = _client(record.tracking_uri)
    with _store_errors(record.tracking_uri):
        experiment_id = client.get_run(record.run_id).info.experiment_id
        query = f"tags.`mlflow.parentRunId` = '{record.run_id}' and tags.`{_TAG}trial_id` = '{trial_id}'"
        runs = client.search_runs([experiment_id], query, max_results=1)
        return _histories(client, runs).get(runs[0].info.run_id, []) if runs else []


def _run_if_any(client: MlflowClient, ref: str) -> Run | None:
    """The run with id ``ref``, or None when there is none (or ``ref`` cannot be a run id)."""
    from mlflow.exceptions import MlflowException

    if not _RUN_ID.fullmatch(ref):
        return None
    try:
        return client.get_run(ref)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _artifact_bytes(client: MlflowClient, run_id: str, path: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return Path(client.download_artifacts(run_id, path, folder)).read_bytes()
