"""Writing runs to an MLflow store: the backend under the write-behind queue.

:class:`RunWrite` is what is pending for one run. :func:`open_backend` picks how it reaches the
store:

- :class:`ApiBackend`, any store, through ``MlflowClient``: a new run is ``create_run`` with
  every tag known so far and the trial's own start time, then one ``log_batch`` (params,
  metrics), then ``set_terminated`` with the trial's end time. An HTTP store (``mlflow
  server``) gets several writer threads: the server answers them in parallel.
- :class:`SqlBackend`, a store MLflow keeps in a database itself (``sqlite:///``,
  ``postgresql://``): every new run of a batch -- the common case, a trial that started and
  ended between two passes of the writer -- is inserted in one transaction into the tables of
  MLflow's own SQLAlchemy models (``SqlRun``, ``SqlTag``, ``SqlParam``, ``SqlMetric``,
  ``SqlLatestMetric``), after MLflow's own validation of each value. A trial's per-iteration
  loss (up to 1000 points) is metric rows of that insert. Updates of runs that exist (a long
  trial's later epochs, its end) and artifacts go through the API as above.

Why the database path: MLflow's API has no call that creates several runs, and its three calls
per run open six database sessions (each with three ``PRAGMA`` statements, a ``pool_pre_ping``
and a commit): about 26 runs/s on SQLite here, against about 450 runs/s for batches of 50 runs
in one transaction. The rows are the ones MLflow's ``create_run`` / ``log_batch`` /
``update_run_info`` would write (``tests/tracking/test_backend.py`` reads both back through
``MlflowClient`` and compares).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepnet.tracking.layout import TAG

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = ["ApiBackend", "Backend", "RunWrite", "SqlBackend", "open_backend"]

HTTP_WRITERS = 4  # parallel writer threads for an HTTP store
_RUNS_PER_TRANSACTION = 200  # new runs inserted in one transaction (about 0.5 s here)


@dataclass(eq=False)
class RunWrite:
    """Pending writes to one run, emptied part by part as they reach the store (so a retry
    resumes where a failure stopped, and the fallback file holds exactly what is unwritten).

    ``artifacts`` values are bytes, or a callable making them on the writer thread (None: skip).
    ``key`` is the trial id, ``""`` for the sweep's parent run.
    """

    key: str
    create: dict[str, str] | None = None  # tags of a run to create (replacing an earlier run of it)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # key, value, ms, step
    artifacts: dict[str, bytes | Callable[[], bytes | None]] = field(default_factory=dict)
    status: str | None = None  # terminate the run with this MLflow status
    start_ms: int | None = None  # the trial's start (Unix ms), for a run to create
    end_ms: int | None = None  # ... and its end, with ``status``
    queued: float = field(default_factory=time.monotonic)  # when it was queued (see WriteBehind)
    create_sent: bool = False  # a create was sent: a store that timed out may have made the run
    after_all: bool = False  # written once every other queued record is (the sweep's summary)

    def is_empty(self) -> bool:
        """True when nothing is left to write."""
        return not (self.create or self.params or self.tags or self.metrics or self.artifacts or self.status)


class Backend:
    """Writes :class:`RunWrite` records of one experiment through ``client``.

    ``run_ids`` maps record keys to run ids; a created run's id is added to it, and the id of a
    run that is created again (a trial that runs again) is replaced, its old run deleted.
    """

    threads = 1  # writer threads this backend takes

    def __init__(self, client: MlflowClient, experiment_id: str, run_ids: dict[str, str]) -> None:
        self.client, self.experiment_id, self.run_ids = client, experiment_id, run_ids
        self.artifact_uris: dict[str, str] = {}  # run id -> artifact URI, for the runs created here

    def write(self, records: Sequence[RunWrite], progressed: Callable[[], None] = lambda: None) -> None:
        """Write ``records`` (in order), emptying each as its parts succeed; ``progressed()`` is
        called after each record (or chunk of records) written."""
        for record in records:
            self.write_one(record)
            progressed()

    def write_one(self, record: RunWrite) -> None:
        """Write one record through the API: create, log_batch, artifacts, set_terminated."""
        from mlflow.entities import Metric, Param, RunTag

        if record.create is not None:
            self._replace_earlier(record.key)
            tags = {**record.create, **record.tags}
            if record.key:
                tags["mlflow.parentRunId"] = self.run_ids[""]
            run = self._created_before(record, tags) if record.create_sent else None
            record.create_sent = True
            if run is None:
                run = self.client.create_run(self.experiment_id, start_time=record.start_ms, tags=tags)
            self.run_ids[record.key] = run.info.run_id
            self.artifact_uris[run.info.run_id] = run.info.artifact_uri
            record.create, record.tags = None, {}
        run_id = self.run_ids[record.key]
        while record.params or record.tags or record.metrics:
            params = list(record.params.items())[:100]  # MLflow: <= 100 params + tags, 1000 entities a batch
            tag_items = list(record.tags.items())[: 100 - len(params)]
            metrics = _unique(record.metrics)[: 1000 - len(params) - len(tag_items)]
            self.client.log_batch(
                run_id,
                metrics=[Metric(key, value, stamp, step) for key, value, stamp, step in metrics],
                params=[Param(key, value) for key, value in params],
                tags=[RunTag(key, value) for key, value in tag_items],
            )
            for key, _ in params:
                del record.params[key]
            for key, _ in tag_items:
                del record.tags[key]
            written = set(metrics)
            record.metrics = [point for point in record.metrics if point not in written]
        for name, content in list(record.artifacts.items()):
            data = content() if callable(content) else content
            if data is not None:
                record.artifacts[name] = data  # made once, even if the upload below fails
                self._log_bytes(run_id, name, data)
            del record.artifacts[name]
        if record.status is not None:
            self.client.set_terminated(run_id, record.status, end_time=record.end_ms)
            record.status = None

    def _log_bytes(self, run_id: str, name: str, data: bytes) -> None:
        """Upload ``data`` as the artifact ``name`` (e.g. ``"plots/heatmap.png"``) of run ``run_id``.

        The artifact repository of a run created here comes from its known artifact URI, as
        ``MlflowClient.log_artifact`` makes it after reading the whole run back (about 80 ms).
        """
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        folder, _, filename = name.rpartition("/")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / filename
            path.write_bytes(data)
            if (uri := self.artifact_uris.get(run_id)) is not None:
                get_artifact_repository(uri, tracking_uri=self.client.tracking_uri).log_artifact(
                    str(path), folder or None
                )
            else:
                self.client.log_artifact(run_id, str(path), folder or None)

    def _created_before(self, record: RunWrite, tags: dict[str, str]) -> Run | None:
        """The run an earlier ``create_run`` of ``record`` made although it failed (a server that
        answered after the client's timeout), so that a retry does not make a second one."""
        trial_id = tags.get(f"{TAG}trial_id")
        if trial_id is None:  # the sweep's parent run: created synchronously, never retried here
            return None
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{TAG}trial_id` = '{trial_id}' and tags.`mlflow.parentRunId` = '{self.run_ids['']}'",
            max_results=1,
        )
        return found[0] if found else None

    def _replace_earlier(self, key: str) -> None:
        """Delete the run an earlier attempt of trial ``key`` left (one run per trial in the UI)."""
        from mlflow.exceptions import MlflowException

        replaced = self.run_ids.pop(key, None) if key else None
        if replaced is None:
            return
        try:
            self.client.delete_run(replaced)
        except MlflowException as err:  # someone already did
            if err.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_STATE"):
                self.run_ids[key] = replaced
                raise


class ApiBackend(Backend):
    """Every write through ``MlflowClient``; several writer threads for an HTTP store."""

    def __init__(self, client: MlflowClient, experiment_id: str, run_ids: dict[str, str]) -> None:
        super().__init__(client, experiment_id, run_ids)
        self.threads = HTTP_WRITERS if client.tracking_uri.startswith(("http://", "https://")) else 1


class SqlBackend(Backend):
    """New runs of a batch in one database transaction through MLflow's SQLAlchemy models; the rest
    through the API (see the module's docstring)."""

    def __init__(self, client: MlflowClient, experiment_id: str, run_ids: dict[str, str]) -> None:
        super().__init__(client, experiment_id, run_ids)
        self.store = client._tracking_client.store  # the SqlAlchemyStore behind the client
        self.artifact_root = self.store.get_experiment(experiment_id).artifact_location

    def write(self, records: Sequence[RunWrite], progressed: Callable[[], None] = lambda: None) -> None:
        latest = {record.key: record for record in records if record.create is not None}
        for record in records:  # a trial started again in this batch: its earlier run never existed
            if record.create is not None and latest[record.key] is not record:
                record.create, record.params, record.tags, record.metrics, record.artifacts = None, {}, {}, [], {}
                record.status = None
        new = list(latest.values())
        for start in range(0, len(new), _RUNS_PER_TRANSACTION):
            self._insert(new[start : start + _RUNS_PER_TRANSACTION])
            progressed()
        super().write(records, progressed)  # artifacts, and the updates of runs that exist

    def _insert(self, records: Sequence[RunWrite]) -> None:
        """Create the runs of ``records`` with their tags, params, metrics and end, in one transaction."""
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
        from mlflow.utils.validation import _validate_batch_log_data

        for record in records:
            self._replace_earlier(record.key)
        rows: dict[type[Any], list[dict]] = {SqlRun: [], SqlTag: [], SqlParam: [], SqlMetric: [], SqlLatestMetric: []}
        created: list[tuple[RunWrite, str, str]] = []  # record, run id, artifact URI
        for record in records:
            run_id = uuid.uuid4().hex
            artifact_uri = f"{self.artifact_root.rstrip('/')}/{run_id}/artifacts"
            tags = {**(record.create or {}), **record.tags}
            if record.key:
                tags["mlflow.parentRunId"] = self.run_ids[""]
            points = _unique(record.metrics)
            _, params, tag_list = _validate_batch_log_data(
                [Metric(key, value, stamp, step) for key, value, stamp, step in points],
                [Param(key, value) for key, value in record.params.items()],
                [RunTag(key, value) for key, value in tags.items()],
            )
            rows[SqlRun].append(
                {
                    "run_uuid": run_id,
                    "name": tags.get("mlflow.runName", ""),
                    "artifact_uri": artifact_uri,
                    "experiment_id": int(self.experiment_id),
                    "source_type": "UNKNOWN",
                    "source_name": "",
                    "entry_point_name": "",
                    "user_id": tags.get("mlflow.user", "unknown"),  # as MlflowClient.create_run
                    "status": record.status or "RUNNING",
                    "start_time": record.start_ms or _now_ms(),
                    "end_time": record.end_ms if record.status else None,
                    "deleted_time": None,
                    "source_version": "",
                    "lifecycle_stage": "active",
                }
            )
            rows[SqlTag] += [{"run_uuid": run_id, "key": tag.key, "value": tag.value} for tag in tag_list]
            rows[SqlParam] += [{"run_uuid": run_id, "key": param.key, "value": param.value} for param in params]
            latest: dict[str, dict] = {}
            for key, value, stamp, step in points:
                is_nan, value = self.store.sanitize_metric_value(value)
                row = {"run_uuid": run_id, "key": key, "value": value, "timestamp": stamp, "step": step}
                row["is_nan"] = is_nan
                rows[SqlMetric].append(row)
                # MLflow's latest value of a key: the one of the highest (step, timestamp, value)
                held = latest.get(key)
                if held is None or (step, stamp, value) > (held["step"], held["timestamp"], held["value"]):
                    latest[key] = row
            rows[SqlLatestMetric] += latest.values()
            created.append((record, run_id, artifact_uri))
        with self.store.ManagedSessionMaker(read_only=False) as session:
            for model, values in rows.items():  # runs first: the other tables refer to them
                if values:  # into the table, not through the ORM's per-row bookkeeping (rows are plain columns)
                    session.execute(model.__table__.insert(), values)
        for record, run_id, artifact_uri in created:
            self.run_ids[record.key] = run_id
            self.artifact_uris[run_id] = artifact_uri
            record.create, record.params, record.tags, record.metrics = None, {}, {}, []
            record.status = None


def open_backend(client: MlflowClient, experiment_id: str, run_ids: dict[str, str]) -> Backend:
    """The fastest backend for the store behind ``client``."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    if isinstance(client._tracking_client.store, SqlAlchemyStore):
        return SqlBackend(client, experiment_id, run_ids)
    return ApiBackend(client, experiment_id, run_ids)


def _unique(points: list[tuple[str, float, int, int]]) -> list[tuple[str, float, int, int]]:
    """``points`` without repeats (MLflow stores a (key, value, timestamp, step) point once)."""
    return list(dict.fromkeys(points))


def _now_ms() -> int:
    return int(time.time() * 1000)
