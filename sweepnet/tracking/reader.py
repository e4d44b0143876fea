"""Reading a sweep back from the store: what ``sweepnet best``, ``sweepnet resume`` and the leaderboard use.

A sweep's latest invocation is its newest parent run; its trials are the parent's child runs.
Reads take what they need and no more:

- every child run's identifying tags and final metrics (``final/*``), never their per-epoch
  values, for ``sweepnet best``;
- with ``histories=True`` (resume: the pruner is re-fed every epoch), also every per-epoch
  metric of every child run, read once (never the per-iteration loss, which
  :func:`read_iteration_loss` reads for the trials a figure shows).

On a store MLflow keeps in a database (``sqlite:///``, ``postgresql://``) both are a few bulk
queries through MLflow's own SQLAlchemy models and session, instead of one ``search_runs`` page
per 1,000 runs (which loads every param and tag) and one ``get_metric_history`` request per run
and metric: at 3,000 trials about 0.5 s instead of about 30 s here. Other stores (an ``mlflow
server``) are read through ``MlflowClient``, the histories concurrently.

Reading one thing of a recorded sweep: :func:`read_artifact` (a file of a run),
:func:`sweep_file` (the sweep file as written), :func:`trial_history` (one trial's epochs).
"""

from __future__ import annotations

import json
import math
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from sweepnet import leaderboard
from sweepnet.errors import ConfigError
from sweepnet.records import TrialResult, TrialSpec, TrialState
from sweepnet.tracking.layout import FINAL_PREFIX, ITERATION_LOSS, TAG
from sweepnet.tracking.store import TrackingError, client, is_sqlite_missing, resolve_tracking_uri, store_errors

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = [
    "SweepRecord",
    "download",
    "iteration_losses",
    "latest_parent",
    "read_artifact",
    "read_iteration_loss",
    "read_record",
    "read_sweep",
    "recorded_sweep",
    "sweep_file",
    "trial_history",
]

_READ_THREADS = 8  # concurrent metric-history requests to a server


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
    if is_sqlite_missing(uri):
        raise TrackingError(f"no sweep named {name!r} in tracking store {uri}")
    store = client(uri)
    with store_errors(uri):
        experiment = store.get_experiment_by_name(name)
        parent = latest_parent(store, experiment.experiment_id) if experiment else None
        if experiment is None or parent is None:
            raise TrackingError(f"no sweep named {name!r} in tracking store {uri}")
    text = _sweep_text(store, uri, name, parent.info.run_id)
    return text, json.loads(parent.data.tags.get(f"{TAG}overrides", "[]"))


def sweep_file(record: SweepRecord) -> str:
    """The sweep file as written, from ``record``'s parent run (what :func:`recorded_sweep` reads).

    Raises
    ------
    TrackingError
        for an unreadable store, or a sweep that was not started from a file.
    """
    return _sweep_text(client(record.tracking_uri), record.tracking_uri, record.name, record.run_id)


def _sweep_text(store: MlflowClient, uri: str, name: str, run_id: str) -> str:
    with store_errors(uri):
        text = download(store, run_id, "sweep.yaml").decode()
    if not text.strip():
        raise TrackingError(f"sweep {name!r} in {uri} was not started from a sweep file")
    return text


def read_record(
    uri: str, name: str, *, histories: bool, sweep_config: dict | None = None
) -> SweepRecord | None:
    """The record of sweep ``name`` in the store at ``uri``, or None when the store (or the sweep)
    does not exist; ``sweep_config`` rebuilds the configs of trials too long for a tag."""
    if is_sqlite_missing(uri):
        return None  # reading must not create an empty store
    store = client(uri)
    with store_errors(uri):
        experiment = store.get_experiment_by_name(name)
        parent = latest_parent(store, experiment.experiment_id) if experiment else None
        if experiment is None or parent is None:
            return None
        children = _children(store, experiment.experiment_id, parent.info.run_id, histories)
    tags = parent.data.tags
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
        run_id=parent.info.run_id,
        artifact_uri=parent.info.artifact_uri,
        status=parent.info.status,
        metric=tags.get(f"{TAG}metric", ""),
        mode=tags.get(f"{TAG}mode", "max"),
        overrides=json.loads(tags.get(f"{TAG}overrides", "[]")),
        entries=entries,
        models=models,
        run_ids=run_ids,
        trials=int(tags[f"{TAG}trials"]) if parent.info.status != "RUNNING" and f"{TAG}trials" in tags else None,
        experiment_id=experiment.experiment_id,
    )


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

    backend = store._tracking_client.store
    if isinstance(backend, SqlAlchemyStore):
        children = _children_in_bulk(backend, parent_id, histories)
    else:
        children = _children_by_api(store, experiment_id, parent_id, histories)
    trials = [child for child in children if f"{TAG}trial_id" in child.tags]
    return sorted(trials, key=lambda child: int(child.tags[f"{TAG}trial_number"]))


def _children_in_bulk(backend: Any, parent_id: str, histories: bool) -> list[_Child]:
    """The child runs from MLflow's tables: runs, ``sweepnet.*`` tags, ``final/*`` latest metrics,
    and with ``histories`` every per-epoch metric point (reads only)."""
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlRun, SqlTag
    from sqlalchemy import Select, select

    children: dict[str, _Child] = {}
    with backend.ManagedSessionMaker() as session:
        ids: Select[Any] = select(SqlTag.run_uuid).where(SqlTag.key == "mlflow.parentRunId", SqlTag.value == parent_id)
        runs: Select[Any, Any] = select(SqlRun.run_uuid, SqlRun.artifact_uri).where(
            SqlRun.run_uuid.in_(ids), SqlRun.lifecycle_stage == "active"
        )
        for run_id, artifact_uri in session.execute(runs):
            children[run_id] = _Child(run_id, artifact_uri or "", {})
        tags = select(SqlTag.run_uuid, SqlTag.key, SqlTag.value).where(
            SqlTag.run_uuid.in_(ids), SqlTag.key.like(f"{TAG}%")
        )
        for run_id, key, value in session.execute(tags):
            if run_id in children:
                children[run_id].tags[key] = value
        finals = select(SqlLatestMetric.run_uuid, SqlLatestMetric.key, SqlLatestMetric.value, SqlLatestMetric.is_nan)
        finals = finals.where(SqlLatestMetric.run_uuid.in_(ids), SqlLatestMetric.key.like(f"{FINAL_PREFIX}%"))
        for run_id, key, value, is_nan in session.execute(finals):
            if run_id in children:
                children[run_id].final[key.removeprefix(FINAL_PREFIX)] = math.nan if is_nan else value
        if histories:
            points = select(SqlMetric.run_uuid, SqlMetric.key, SqlMetric.step, SqlMetric.value, SqlMetric.is_nan)
            points = points.where(
                SqlMetric.run_uuid.in_(ids), SqlMetric.key.not_like(f"{FINAL_PREFIX}%"), SqlMetric.key != ITERATION_LOSS
            )
            for run_id, key, step, value, is_nan in session.execute(points.order_by(SqlMetric.timestamp)):
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
    location = urlparse(f"{child.artifact_uri}/{child.tags[f'{TAG}model']}")
    if location.scheme in ("", "file"):
        return location.path
    return f"runs:/{child.run_id}/{child.tags[f'{TAG}model']}"


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
