"""Model files in the store: a trial's ``model.npz``, the best model as an MLflow Model, and
finding a model file by sweep name or run id (what :func:`sweepnet.load_model` reads).

A model file is a :class:`sweepnet.bundle.ModelBundle` (weights, state, config, preprocessing;
read with ``np.load(..., allow_pickle=False)``). The parent run's ``model/`` is an MLflow Model
whose ``python_function`` flavour loads that file with :mod:`sweepnet.pyfunc`: code from the
installed package, no pickle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sweepnet import leaderboard
from sweepnet.records import SweepInfo, TrialResult, TrialSpec
from sweepnet.tracking.layout import MODEL_FILES, TAG
from sweepnet.tracking.reader import download, read_record
from sweepnet.tracking.store import TrackingError, client, is_sqlite_missing, resolve_tracking_uri, store_errors

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = ["model_file", "model_npz", "python_model"]

_RUN_ID = re.compile(r"[0-9a-f]{32}")


def model_npz(sweep: SweepInfo, spec: TrialSpec, result: TrialResult) -> bytes:
    """The model file of a trial: its weights, state, config and the data set's preprocessing."""
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


def python_model(model: Callable[[], bytes | None], run_id: str | None) -> dict[str, Callable[[], bytes | None]]:
    """The artifacts of the MLflow Model ``model/`` of run ``run_id``: the model file (``model()``,
    None: no model) and an ``MLmodel`` whose ``python_function`` flavour loads it with
    :mod:`sweepnet.pyfunc`."""

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
    tracking_uri : see :func:`~sweepnet.tracking.store.resolve_tracking_uri`.

    Raises
    ------
    TrackingError
        for an unknown name or run, a sweep without a scored trial, or a trial without weights.
    """
    uri = resolve_tracking_uri(tracking_uri)
    if is_sqlite_missing(uri):
        raise TrackingError(f"{ref!r} is no model file, and there is no tracking store {uri}")
    store = client(uri)
    with store_errors(uri):
        run = _run_if_any(store, ref)
        if run is not None:
            kind = run.data.tags.get(f"{TAG}kind", "")
            if kind not in MODEL_FILES:
                raise TrackingError(f"run {ref} in {uri} is not a sweepnet trial or sweep")
            name = MODEL_FILES[kind]
            if name not in {info.path for info in store.list_artifacts(ref)}:
                raise TrackingError(f"{kind} run {ref} in {uri} has no {name} (no weights were kept)")
            return download(store, ref, name), f"{name} of run {ref} in {uri}"
    record = read_record(uri, ref, histories=False)
    if record is None:
        raise TrackingError(f"no model file, run or sweep named {ref!r} (tracking store {uri})")
    best = leaderboard.best(record.entries, record.metric, record.mode)
    if best is None:
        raise TrackingError(f"sweep {ref!r} in {uri}: no trial has finished with a {record.metric} yet")
    spec = best[0]
    location = record.models.get(spec.trial_id)
    if location is None:
        trial = f"its best trial {spec.number} ({spec.trial_id[:8]})"
        raise TrackingError(f"sweep {ref!r} in {uri}: {trial} kept no weights")
    with store_errors(uri):
        if location.startswith("runs:/"):
            run_id, _, path = location.removeprefix("runs:/").partition("/")
            data = download(store, run_id, path)
        else:
            data = Path(location).read_bytes()
    return data, f"model.npz of trial {spec.number} ({spec.trial_id[:8]}) of sweep {ref!r} in {uri}"


def _run_if_any(store: MlflowClient, ref: str) -> Run | None:
    """The run with id ``ref``, or None when there is none (or ``ref`` cannot be a run id)."""
    from mlflow.exceptions import MlflowException

    if not _RUN_ID.fullmatch(ref):
        return None
    try:
        return store.get_run(ref)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
