"""Reading a sweep back from the store: what ``sweepnet best``, ``sweepnet resume`` and the leaderboard use.

A sweep's latest invocation is its newest parent run; its trials are the parent's child runs.
Reads take what they need and no more:

- every child run's identifying tags and final metrics (``final/*``), never their per-epoch
  values, for ``sweepnet best``;
- with ``histories=True`` (resume: the pruner is re-fed every epoch), also every per-epoch
  metric of every child run, read once (never the per-iteration loss, which
  :func:`read_iteration_loss` reads for the trials a figure shows).

On a store MLflow keeps in a database both are a few bulk queries of MLflow's tables
(:mod:`~sweepnet.tracking.queries`), instead of one ``search_runs`` page per 1,000 runs (which
loads every param and tag) and one ``get_metric_history`` request per run and metric: at 3,000
trials about 0.5 s instead of about 30 s here. A SQLite store is read with :mod:`sqlite3`
alone, without importing MLflow (seconds of a command's time), the sweep file straight from its
artifact folder; ``postgresql://`` through MLflow's session. Other stores (an ``mlflow server``)
are read through ``MlflowClient``, the histories concurrently.

Reading one thing of a recorded sweep: :func:`read_artifact` (a file of a run),
:func:`sweep_file` (the sweep file as written), :func:`trial_history` (one trial's epochs).
"""

from __future__ import annotations

import json
import math
import sqlite3
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

import numpy as np

from sweepnet import leaderboard
from sweepnet.errors import ConfigError
from sweepnet.records import TrialResult, TrialSpec, TrialState
from sweepnet.tracking.layout import FINAL_PREFIX, ITERATION_LOSS, TAG
from sweepnet.tracking.queries import CHILD_QUERIES, Execute, ParentRun, sqlite_execute
from sweepnet.tracking.queries import latest_parent as parent_in_tables
from sweepnet.tracking.store import (
    TrackingError,
    client,
    is_sqlite_missing,
    one_line,
    resolve_tracking_uri,
    sqlite_path,
    store_errors,
)

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    from sweepnet.data.dataset import DatasetMeta

__all__ = [
    "SweepRecord",
    "download",
    "iteration_losses",
    "latest_parent",
    "read_artifact",
    "read_iteration_loss",
    "read_record",
    "read_sweep",
    "recorded_data_meta",
    "recorded_sweep",
    "sweep_experiment",
    "sweep_file",
    "trial_history",
]

_READ_THREADS = 8  # concurrent metric-history requests to a server
_T = TypeVar("_T")


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
    run_ids : trial id -> its run's id.
    trials : the trial count the parent run recorded when the invocation ended (None: it did not end).
    experiment_id : the sweep's experiment.
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
    run_ids: dict[str, str] = field(default_factory=dict)
    trials: int | None = None
    experiment_id: str = ""

    def is_complete(self) -> bool:
        """True when the invocation finished and its summary covers every trial recorded."""
        return self.status == "FINISHED" and self.trials == len(self.entries)


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
    record = read_record(uri, name, histories=histories)
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
    uri = resolve_tracking_uri(tracking_uri)
    parent = _latest_parent_run(uri, name)
    if parent is None:
        raise TrackingError(f"no sweep named {name!r} in tracking store {uri}")
    text = _sweep_text(uri, name, parent)
    return text, json.loads(parent.tags.get(f"{TAG}overrides", "[]"))


def _latest_parent_run(uri: str, name: str) -> ParentRun | None:
    """The latest parent run of sweep ``name``; None when the store or the sweep does not exist."""
    if is_sqlite_missing(uri):
        return None  # reading must not create an empty store
    parent = _from_sqlite(uri, lambda execute: parent_in_tables(execute, name))
    if parent is not _NOT_READ:
        return parent
    store = client(uri)
    with store_errors(uri):
        return _parent_through_mlflow(store, name)


def sweep_experiment(name: str, tracking_uri: str | None = None) -> str:
    """The id of the MLflow experiment of sweep ``name``.

    Raises
    ------
    TrackingError
        for an unknown sweep or an unreadable store.
    """
    uri = resolve_tracking_uri(tracking_uri)
    parent = _latest_parent_run(uri, name)
    if parent is None:
        raise TrackingError(f"no sweep named {name!r} in tracking store {uri}")
    return parent.experiment_id


def recorded_data_meta(name: str, tracking_uri: str | None = None) -> DatasetMeta | None:
    """The data set's meta as the latest invocation of sweep ``name`` recorded it (``data_meta.json``,
    without ``preprocessing``); None when it recorded none, or the store cannot say.

    What a resume needs to know about the data before deciding whether any trial is left to run
    (the default metric depends on the data set's task).
    """
    from sweepnet.data.dataset import DatasetMeta

    uri = resolve_tracking_uri(tracking_uri)
    try:
        parent = _latest_parent_run(uri, name)
        data = _artifact_bytes(uri, parent, "data_meta.json") if parent is not None else None
        fields = json.loads(data) if data else None
        if fields is None:
            return None
        for key in ("input_shape", "class_names"):
            fields[key] = tuple(fields[key]) if fields.get(key) is not None else fields.get(key)
        return DatasetMeta(**fields)
    except (TrackingError, ValueError, TypeError):  # the data set is loaded instead
        return None


def sweep_file(record: SweepRecord) -> str:
    """The sweep file as written, from ``record``'s parent run (what :func:`recorded_sweep` reads).

    Raises
    ------
    TrackingError
        for an unreadable store, or a sweep that was not started from a file.
    """
    parent = ParentRun(record.experiment_id, record.run_id, record.artifact_uri, record.status, {})
    return _sweep_text(record.tracking_uri, record.name, parent)


def _sweep_text(uri: str, name: str, parent: ParentRun) -> str:
    text = (_artifact_bytes(uri, parent, "sweep.yaml") or b"").decode()
    if not text.strip():
        raise TrackingError(f"sweep {name!r} in {uri} was not started from a sweep file")
    return text


def _artifact_bytes(uri: str, parent: ParentRun, path: str) -> bytes | None:
    """The artifact ``path`` of the parent run, None when it has none: read from its folder when the
    artifacts are local files (no MLflow), else downloaded."""
    folder = _local_folder(parent.artifact_uri)
    try:
        if folder is not None:
            return (folder / path).read_bytes() if (folder / path).is_file() else None
        with store_errors(uri):
            return download(client(uri), parent.run_id, path)
    except OSError as err:
        raise TrackingError(f"tracking store {uri}: {one_line(err)}") from err


def read_record(uri: str, name: str, *, histories: bool, sweep_config: dict | None = None) -> SweepRecord | None:
    """The record of sweep ``name`` in the store at ``uri``, or None when the store (or the sweep)
    does not exist; ``sweep_config`` rebuilds the configs of trials too long for a tag."""
    if is_sqlite_missing(uri):
        return None  # reading must not create an empty store
    found = _from_sqlite(uri, lambda execute: _parent_and_children(execute, name, histories))
    if found is _NOT_READ:
        found = _read_through_mlflow(uri, name, histories)
    if found is None:
        return None
    parent, children = found
    tags = parent.tags
    entries, models, run_ids = [], {}, {}
    for child in children:
        spec, result = _entry(child, sweep_config)
        entries.append((spec, result))
        run_ids[spec.trial_id] = child.run_id
        if f"{TAG}model" in child.tags:
            models[spec.trial_id] = _model_location(child)
    return SweepRecord(
        name=name,
        tracking_uri=uri,
        run_id=parent.run_id,
        artifact_uri=parent.artifact_uri,
        status=parent.status,
        metric=tags.get(f"{TAG}metric", ""),
        mode=tags.get(f"{TAG}mode", "max"),
        overrides=json.loads(tags.get(f"{TAG}overrides", "[]")),
        entries=entries,
        models=models,
        run_ids=run_ids,
        trials=int(tags[f"{TAG}trials"]) if parent.status != "RUNNING" and f"{TAG}trials" in tags else None,
        experiment_id=parent.experiment_id,
    )


_NOT_READ: Any = object()  # what _from_sqlite answers when MLflow has to read the store


def _from_sqlite(uri: str, read: Callable[[Execute], _T]) -> _T:
    """``read(execute)`` on the SQLite store at ``uri`` without MLflow; :data:`_NOT_READ` for
    another store, or a file whose tables MLflow has to make or migrate first.

    Raises
    ------
    TrackingError
        for a file that is not a database, or one that cannot be read.
    """
    path = sqlite_path(uri)
    if path is None:
        return _NOT_READ
    try:
        with sqlite_execute(path) as execute:
            return read(execute)
    except sqlite3.OperationalError as err:
        if "no such" in str(err):  # table or column: not (yet) MLflow's tables as known here
            return _NOT_READ
        raise TrackingError(f"tracking store {uri}: {one_line(err)}") from err
    except sqlite3.Error as err:
        raise TrackingError(f"tracking store {uri}: {one_line(err)}") from err


def _parent_and_children(execute: Execute, name: str, histories: bool) -> tuple[ParentRun, list[_Child]] | None:
    parent = parent_in_tables(execute, name)
    if parent is None:
        return None
    return parent, _trials(_children_in_bulk(execute, parent.run_id, histories))


def _read_through_mlflow(uri: str, name: str, histories: bool) -> tuple[ParentRun, list[_Child]] | None:
    store = client(uri)
    with store_errors(uri):
        parent = _parent_through_mlflow(store, name)
        if parent is None:
            return None
        return parent, _children(store, parent.experiment_id, parent.run_id, histories)


def _parent_through_mlflow(store: MlflowClient, name: str) -> ParentRun | None:
    """The latest parent run of sweep ``name`` as MLflow's client finds it; None without one."""
    experiment = store.get_experiment_by_name(name)
    run = latest_parent(store, experiment.experiment_id) if experiment else None
    if experiment is None or run is None:
        return None
    info = run.info
    return ParentRun(experiment.experiment_id, info.run_id, info.artifact_uri or "", info.status, dict(run.data.tags))


def latest_parent(store: MlflowClient, experiment_id: str) -> Run | None:
    """The newest parent run of the experiment (the sweep's latest invocation)."""
    runs = store.search_runs(
        [experiment_id], f"tags.`{TAG}kind` = 'sweep'", order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0] if runs else None


# --------------------------------------------------------------------------- child runs


@dataclass
class _Child:
    """What a trial's run holds that the record needs."""

    run_id: str
    artifact_uri: str
    tags: dict[str, str]
    final: dict[str, float] = field(default_factory=dict)  # final metrics, without the prefix
    history: dict[int, dict[str, float]] = field(default_factory=dict)  # step -> {"epoch": step, key: value}


def _children(store: MlflowClient, experiment_id: str, parent_id: str, histories: bool) -> list[_Child]:
    """The parent's active child runs that are trials, by trial number."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sqlalchemy import text

    backend = store._tracking_client.store
    if not isinstance(backend, SqlAlchemyStore):
        return _trials(_children_by_api(store, experiment_id, parent_id, histories))
    with backend.ManagedSessionMaker() as session:
        return _trials(_children_in_bulk(lambda sql, values: session.execute(text(sql), values), parent_id, histories))


def _trials(children: list[_Child]) -> list[_Child]:
    """The child runs that are trials, by trial number."""
    trials = [child for child in children if f"{TAG}trial_id" in child.tags]
    return sorted(trials, key=lambda child: int(child.tags[f"{TAG}trial_number"]))


def _children_in_bulk(execute: Execute, parent_id: str, histories: bool) -> list[_Child]:
    """The child runs from MLflow's tables: runs, ``sweepnet.*`` tags, ``final/*`` latest metrics,
    and with ``histories`` every per-epoch metric point (reads only)."""
    values = {"parent": parent_id, "tags": f"{TAG}%", "finals": f"{FINAL_PREFIX}%", "iterations": ITERATION_LOSS}
    children = {row[0]: _Child(row[0], row[1] or "", {}) for row in execute(CHILD_QUERIES["runs"], values)}
    # Each query sees the store as it is then: a child a running sweep added since is left out.
    for run_id, key, value in execute(CHILD_QUERIES["tags"], values):
        if run_id in children:
            children[run_id].tags[key] = value
    for run_id, key, value, is_nan in execute(CHILD_QUERIES["finals"], values):
        if run_id in children:
            children[run_id].final[key.removeprefix(FINAL_PREFIX)] = math.nan if is_nan else value
    if histories:
        for run_id, key, step, value, is_nan in execute(CHILD_QUERIES["points"], values):
            if run_id in children:
                row = children[run_id].history.setdefault(step, {"epoch": float(step)})
                row[key] = math.nan if is_nan else value
    return list(children.values())


def _children_by_api(store: MlflowClient, experiment_id: str, parent_id: str, histories: bool) -> list[_Child]:
    """The child runs through ``search_runs``, and with ``histories`` their per-epoch metrics."""
    children: list[_Child] = []
    keys: list[list[str]] = []  # each child's per-epoch metrics
    token = None
    while True:
        page = store.search_runs(
            [experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'", max_results=1000, page_token=token
        )
        for run in page:
            child, per_epoch = _child(run)
            children.append(child)
            keys.append(per_epoch)
        token = page.token
        if not token:
            break
    if histories:
        _read_histories(store, children, keys)
    return children


def _child(run: Run) -> tuple[_Child, list[str]]:
    """A run as a :class:`_Child` (without its history), and the keys of its per-epoch metrics."""
    metrics = run.data.metrics
    final = {key.removeprefix(FINAL_PREFIX): value for key, value in metrics.items() if key.startswith(FINAL_PREFIX)}
    per_epoch = [key for key in metrics if not key.startswith(FINAL_PREFIX) and key != ITERATION_LOSS]
    return _Child(run.info.run_id, run.info.artifact_uri, dict(run.data.tags), final), per_epoch


def _read_histories(store: MlflowClient, children: list[_Child], keys: list[list[str]]) -> None:
    """Fill each child's history with its metrics ``keys``: one ``get_metric_history`` per run and
    metric, concurrently."""
    jobs = [(child, key) for child, names in zip(children, keys, strict=True) for key in names]
    with ThreadPoolExecutor(_READ_THREADS) as pool:
        answers = list(pool.map(lambda job: store.get_metric_history(job[0].run_id, job[1]), jobs))
    for (child, key), points in zip(jobs, answers, strict=True):
        for point in points:
            child.history.setdefault(point.step, {"epoch": float(point.step)})[key] = point.value


def _entry(child: _Child, sweep_config: dict | None) -> leaderboard.Entry:
    """A child run back as ``(TrialSpec, TrialResult)``."""
    tags = child.tags
    params = json.loads(tags[f"{TAG}params"])
    config = json.loads(tags[f"{TAG}config"]) if f"{TAG}config" in tags else _resolve(sweep_config, params)
    number, seed = int(tags[f"{TAG}trial_number"]), int(tags[f"{TAG}seed"])
    spec = TrialSpec(tags[f"{TAG}trial_id"], number, params, config, seed)
    result = TrialResult(
        spec.trial_id,
        TrialState(tags[f"{TAG}state"]),
        metrics=dict(child.final),
        history=[child.history[step] for step in sorted(child.history)],
        duration_s=float(tags.get(f"{TAG}duration_s", 0.0)),
        error=tags.get(f"{TAG}error"),
        node=tags.get(f"{TAG}node"),
        worker=tags.get(f"{TAG}worker"),
        retries=int(tags.get(f"{TAG}retries", 0)),
    )
    return spec, result


def _resolve(sweep_config: dict | None, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's config rebuilt from the sweep's (for trials whose config was too long for a tag)."""
    from sweepnet.search import SearchSpace

    try:
        return SearchSpace(sweep_config or {}).resolve(params)
    except ConfigError:  # the space changed since: the params and id still identify the trial
        return {}


def _model_location(child: _Child) -> str:
    """The trial's ``model.npz``: a path when the artifacts are local files, else a ``runs:/`` URI."""
    folder = _local_folder(child.artifact_uri)
    if folder is not None:
        return str(folder / child.tags[f"{TAG}model"])
    return f"runs:/{child.run_id}/{child.tags[f'{TAG}model']}"


def _local_folder(artifact_uri: str) -> Path | None:
    """The folder of a run's artifacts when they are local files (``file://`` or a path), else None."""
    location = urlparse(artifact_uri)
    return Path(unquote(location.path)) if location.scheme in ("", "file") else None


# --------------------------------------------------------------------------- one thing of a sweep


def read_artifact(record: SweepRecord, path: str, run_id: str | None = None) -> bytes | None:
    """The artifact ``path`` of the sweep's parent run (or of run ``run_id``), None when it has none.

    Raises
    ------
    TrackingError
        when the store cannot be read.
    """
    store = client(record.tracking_uri)
    run_id = run_id or record.run_id
    folder, _, _ = path.rpartition("/")
    with store_errors(record.tracking_uri):
        if path not in {info.path for info in store.list_artifacts(run_id, folder or None)}:
            return None
        return download(store, run_id, path)


def download(store: MlflowClient, run_id: str, path: str) -> bytes:
    """The content of the artifact ``path`` of run ``run_id``."""
    with tempfile.TemporaryDirectory() as folder:
        return Path(store.download_artifacts(run_id, path, folder)).read_bytes()


def trial_history(record: SweepRecord, trial_id: str) -> list[dict[str, float]]:
    """The per-epoch metrics of one trial of ``record`` (``{"epoch": 1, "loss": ...}`` per epoch).

    Reads that trial's run only, however many trials the sweep has.
    """
    run_id = record.run_ids.get(trial_id)
    if run_id is None:
        return []
    store = client(record.tracking_uri)
    with store_errors(record.tracking_uri):
        child, keys = _child(store.get_run(run_id))
        _read_histories(store, [child], [keys])
    return [child.history[step] for step in sorted(child.history)]


def read_iteration_loss(record: SweepRecord, specs: list[TrialSpec]) -> dict[str, np.ndarray]:
    """The recorded per-iteration loss of trials of ``record``: trial id -> ``(K, 2)`` float32
    rows ``(iteration, loss)`` (see ``TrialResult.iteration_loss``); trials without one are left out."""
    return iteration_losses(record.tracking_uri, record.run_ids, specs)


def iteration_losses(uri: str, run_ids: dict[str, str], specs: list[TrialSpec]) -> dict[str, np.ndarray]:
    """:func:`read_iteration_loss` of the trials of ``specs`` whose runs ``run_ids`` names
    (trial id -> run id) in the store at ``uri``."""
    store = client(uri)
    jobs = [(spec.trial_id, run_ids[spec.trial_id]) for spec in specs if spec.trial_id in run_ids]
    with store_errors(uri), ThreadPoolExecutor(_READ_THREADS) as pool:
        answers = list(pool.map(lambda job: store.get_metric_history(job[1], ITERATION_LOSS), jobs))
    return {
        trial_id: np.array(sorted((point.step, point.value) for point in points), dtype=np.float32)
        for (trial_id, _), points in zip(jobs, answers, strict=True)
        if points
    }
