"""MLflow tracking: the durable record of every sweep and trial.

The only package of sweepnet that imports ``mlflow`` (inside functions: importing this package
is cheap, Ray workers never load MLflow, and reading a SQLite store needs none). One concept per module:

- :mod:`~sweepnet.tracking.store`: which store, opening it, checking it can be written;
- :mod:`~sweepnet.tracking.layout`: how sweeps and trials map onto experiments, runs, tags;
- :mod:`~sweepnet.tracking.reader`: reading a sweep back (``sweepnet best``, resume, the leaderboard,
  ``sweepnet report``, ``sweepnet trial --trial``);
- :mod:`~sweepnet.tracking.queries`: the SQL of MLflow's tables the reader runs (on SQLite without MLflow);
- :mod:`~sweepnet.tracking.models`: model files, the best model as an MLflow Model, ``load_model``'s lookup;
- :mod:`~sweepnet.tracking.backend`: writing runs (in bulk on a database store);
- :mod:`~sweepnet.tracking.writebehind`: the queue between the driver and the backend;
- :mod:`~sweepnet.tracking.unwritten`: what the store could not take, saved and written later;
- :mod:`~sweepnet.tracking.recorder`: one sweep invocation's record.

The lifecycle hooks that drive it are the built-in plugin :mod:`sweepnet.plugins.tracker`.
"""

from __future__ import annotations

from sweepnet.tracking.layout import FINAL_PREFIX, ITERATION_LOSS
from sweepnet.tracking.models import model_file
from sweepnet.tracking.reader import (
    SweepRecord,
    read_artifact,
    read_iteration_loss,
    read_sweep,
    recorded_data_meta,
    recorded_sweep,
    sweep_experiment,
    sweep_file,
    trial_history,
)
from sweepnet.tracking.recorder import DEFAULT_FLUSH_TIMEOUT
from sweepnet.tracking.store import DEFAULT_TRACKING_URI, TrackingError, resolve_tracking_uri, sqlite_path
from sweepnet.tracking.unwritten import replay_unwritten

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
    "recorded_data_meta",
    "recorded_sweep",
    "replay_unwritten",
    "resolve_tracking_uri",
    "sqlite_path",
    "sweep_experiment",
    "sweep_file",
    "trial_history",
]
