"""The backends under the write-behind queue: the bulk insert of new runs writes what MLflow's API writes."""

from __future__ import annotations

import math

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweepnet.tracking.backend import ApiBackend, RunWrite, SqlBackend
from sweepnet.tracking.layout import ITERATION_LOSS
from sweepnet.tracking.store import client

POINTS = [
    ("loss", 2.0, 1_000, 1),
    ("loss", 1.0, 1_001, 2),
    ("val_acc", math.nan, 1_000, 1),
    ("val_acc", math.inf, 1_001, 2),
    ("final/val_acc", -math.inf, 1_002, 0),
    ("final/test_acc", 0.25, 1_002, 0),
    *[(ITERATION_LOSS, 2.3 / iteration, 1_002, iteration) for iteration in range(1, 1001)],
]


def _record(points: list[tuple[str, float, int, int]]) -> RunWrite:
    return RunWrite(
        "0" * 40,
        create={"mlflow.runName": "trial-000-00000000", "sweepnet.kind": "trial"},
        params={"model.reg": "0.1", "solver.optim_config.learning_rate": "0.001"},
        tags={"sweepnet.state": "COMPLETED"},
        metrics=list(points),
        status="FINISHED",
        start_ms=1_000,
        end_ms=2_500,
    )


@pytest.fixture
def parent(tmp_path):
    """(client, experiment id, the parent run's id) of a new SQLite store."""
    store = client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = store.create_experiment("rows")
    return store, experiment, store.create_run(experiment).info.run_id


def _written(store, backend_type, experiment, parent_id, record):
    run_ids = {"": parent_id}
    backend_type(store, experiment, run_ids).write([record])
    assert record.is_empty()
    return store.get_run(run_ids[record.key])


def _nan_safe(metrics):
    return {key: "nan" if math.isnan(value) else value for key, value in metrics.items()}


def _history(store, run_id, key):
    points = store.get_metric_history(run_id, key)
    return sorted((point.step, point.timestamp, "nan" if math.isnan(point.value) else point.value) for point in points)


def test_the_bulk_insert_writes_the_rows_mlflows_api_writes(parent):
    store, experiment, parent_id = parent
    bulk = _written(store, SqlBackend, experiment, parent_id, _record(POINTS))
    api = _written(store, ApiBackend, experiment, parent_id, _record(POINTS))
    assert bulk.info.run_id != api.info.run_id
    assert bulk.data.params == api.data.params
    assert bulk.data.tags == api.data.tags and bulk.data.tags["mlflow.parentRunId"] == parent_id
    assert _nan_safe(bulk.data.metrics) == _nan_safe(api.data.metrics)  # the latest value of each key
    assert bulk.data.metrics["val_acc"] == 1.7976931348623157e308 and bulk.data.metrics[ITERATION_LOSS] == 2.3 / 1000
    for key in {point[0] for point in POINTS}:
        bulk_points, api_points = (_history(store, run.info.run_id, key) for run in (bulk, api))
        assert bulk_points == api_points and len(bulk_points) == sum(point[0] == key for point in POINTS)
    for field in ("status", "start_time", "end_time", "lifecycle_stage", "run_name", "experiment_id"):
        assert getattr(bulk.info, field) == getattr(api.info, field), field
    assert bulk.info.artifact_uri.endswith(f"/{bulk.info.run_id}/artifacts")


@pytest.mark.parametrize("point", [("bad//key", 1.0, 1_000, 1), ("loss", "high", 1_000, 1)])
def test_the_bulk_insert_refuses_what_mlflows_api_refuses_and_writes_nothing(parent, point):
    store, experiment, parent_id = parent
    for backend_type in (ApiBackend, SqlBackend):
        with pytest.raises(MlflowException) as refused:
            _written(store, backend_type, experiment, parent_id, _record([POINTS[0], point, *POINTS[1:]]))
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    runs = store.search_runs([experiment], "tags.`sweepnet.kind` = 'trial'")
    assert len(runs) == 1  # the API created its run before log_batch refused; the insert, none


class _AnswersTooLate:
    """An MLflow client whose store makes the first run it is asked for, then times out the answer
    (an HTTP server under load answering after the client's timeout)."""

    def __init__(self, client: MlflowClient) -> None:
        self._client = client
        self.late = 1

    def __getattr__(self, name):
        return getattr(self._client, name)

    def create_run(self, *args, **kwargs):
        run = self._client.create_run(*args, **kwargs)
        if self.late:
            self.late -= 1
            raise MlflowException("API request to endpoint /api/2.0/mlflow/runs/create failed: read timed out")
        return run


def test_a_create_retried_after_a_late_answer_adopts_the_run_it_made(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("late")
    parent = client.create_run(experiment_id, tags={"sweepnet.kind": "sweep"})
    backend = ApiBackend(_AnswersTooLate(client), experiment_id, {"": parent.info.run_id})
    trial = {"sweepnet.kind": "trial", "sweepnet.trial_id": "ab" * 20, "mlflow.runName": "trial-000-abababab"}
    other = {**trial, "sweepnet.trial_id": "cd" * 20, "mlflow.runName": "trial-001-cdcdcdcd"}
    record = RunWrite("ab" * 20, create=trial, params={"lr": "0.1"}, status="FINISHED")
    try:
        backend.write_one(record)
    except MlflowException:
        pass
    backend.write_one(record)  # the write-behind queue's retry
    backend.write_one(RunWrite("cd" * 20, create=other, status="FINISHED"))

    runs = client.search_runs([experiment_id], filter_string="tags.`sweepnet.kind` = 'trial'")
    assert sorted(run.data.tags["sweepnet.trial_id"] for run in runs) == ["ab" * 20, "cd" * 20]
    [retried] = [run for run in runs if run.data.tags["sweepnet.trial_id"] == "ab" * 20]
    assert retried.info.run_id == backend.run_ids["ab" * 20]
    assert retried.info.status == "FINISHED" and retried.data.params == {"lr": "0.1"}
