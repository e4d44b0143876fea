"""How a sweep maps onto MLflow: one experiment per sweep, a parent run per invocation, a child run per trial.

Layout, one MLflow experiment per sweep ``name`` (tagged ``mlflow.experimentKind`` =
``custom_model_development``, so MLflow 3's UI opens it on its runs table)::

    parent run "<name>"               one sweep invocation; ``--resume`` reuses the latest one
      tags       sweepnet.kind=sweep, sweepnet.metric, sweepnet.mode, sweepnet.overrides (JSON),
                 sweepnet.version, sweepnet.plugins (JSON: provider -> version),
                 sweepnet.trials, sweepnet.best_trial
      artifacts  sweep.yaml (the file as written), config.yaml (validated), data_meta.json,
                 leaderboard.csv/.md, plots/*.png, report.html, best_model.npz, best.json,
                 model/ (the best model as an MLflow Model: MLmodel with the python_function
                 flavour of sweepnet.pyfunc, and model.npz)
      metrics    final/<name>: the best trial's final metrics
    child run "trial-007-3fa9c2d1"    one trial, nested (tag mlflow.parentRunId), with the trial's
                                      own start and end times
      params     its hyperparameters by dotted path ("model.hidden_dims[0]" -> "model.hidden_dims.0")
      metrics    loss, train_acc / val_acc (or train_rmse / val_rmse), lr ... at step=epoch;
                 final/<name> (best val_acc, test_acc ...) and iteration/loss (the training
                 loss at step=iteration, at most 1000 points) when it ends
      tags       sweepnet.state, .trial_id, .trial_number, .seed, .params (JSON), .config (JSON),
                 .node, .worker, .duration_s, .retries, .error (short), .version, .plugins, .model
      artifacts  model.npz (a model file, see sweepnet.bundle; trials among the best when they
                 ended), curves.png (the best trials, drawn when the sweep ends), error.txt

Final metrics carry the ``final/`` prefix so that a per-epoch series (``val_acc`` at each
step) and the trial's result (its best ``val_acc``) never share a key.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sweepnet.records import TrialResult, TrialSpec, TrialState

__all__ = [
    "EXPERIMENT_TAGS",
    "FINAL_PREFIX",
    "ITERATION_LOSS",
    "MODEL_FILES",
    "RUN_STATUS",
    "TAG",
    "end_tags",
    "final_metrics",
    "iteration_points",
    "metric_key",
    "params_of",
    "run_name",
    "trial_tags",
]

FINAL_PREFIX = "final/"
ITERATION_LOSS = "iteration/loss"
"""Metric key of a trial's per-iteration training loss, at ``step`` = iteration (kept out of the
per-epoch histories)."""
MODEL_FILES = {"trial": "model.npz", "sweep": "best_model.npz"}  # the model file of a run, by its sweepnet.kind
TAG = "sweepnet."
# MLflow 3's UI opens an experiment of this kind on its runs table (not the GenAI traces view).
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
MAX_TAG = 8000  # MLflow's limit on a tag value
MAX_PARAM = 6000  # ... on a param value
RUN_STATUS = {
    TrialState.RUNNING: "RUNNING",
    TrialState.COMPLETED: "FINISHED",
    TrialState.PRUNED: "FINISHED",
    TrialState.DIVERGED: "FAILED",
    TrialState.FAILED: "FAILED",
    TrialState.KILLED: "KILLED",
}


def metric_key(name: str) -> str:
    """An MLflow param/metric key for a dotted path: ``a.b[0]`` -> ``a.b.0``; other odd characters -> ``_``."""
    return re.sub(r"[^\w.\- /:]", "_", re.sub(r"\[(\d+)\]", r".\1", name))[:250]


def params_of(trial: TrialSpec) -> dict[str, str]:
    """The trial's hyperparameters as MLflow params."""
    return {metric_key(path): _text(value)[:MAX_PARAM] for path, value in trial.params.items()}


def run_name(trial: TrialSpec) -> str:
    """``trial-007-3fa9c2d1``: the trial's number and id prefix."""
    return f"trial-{trial.number:03d}-{trial.trial_id[:8]}"


def trial_tags(trial: TrialSpec, common: dict[str, str]) -> dict[str, str]:
    """The tags that identify a trial's run (``common``: version tags shared by every run)."""
    tags = {
        "mlflow.runName": run_name(trial),
        f"{TAG}kind": "trial",
        f"{TAG}state": TrialState.RUNNING.value,
        f"{TAG}trial_id": trial.trial_id,
        f"{TAG}trial_number": str(trial.number),
        f"{TAG}seed": str(trial.seed),
        f"{TAG}params": json.dumps(trial.params),
        **common,
    }
    config = json.dumps(trial.config, separators=(",", ":"))
    if len(config) <= MAX_TAG:  # else resume re-resolves it from the sweep config
        tags[f"{TAG}config"] = config
    return tags


def end_tags(result: TrialResult) -> dict[str, str]:
    """The tags a trial's run gets when it ends: state, duration, placement, the error's last line."""
    tags = {
        f"{TAG}state": result.state.value,
        f"{TAG}duration_s": f"{result.duration_s:.3f}",
        f"{TAG}retries": str(result.retries),
    }
    for name in ("node", "worker"):
        if getattr(result, name) is not None:
            tags[f"{TAG}{name}"] = str(getattr(result, name))
    if result.error:
        lines = [line for line in result.error.strip().splitlines() if line.strip()]
        tags[f"{TAG}error"] = lines[-1].strip()[:250] if lines else ""
    return tags


def final_metrics(metrics: dict[str, float], stamp_ms: int) -> list[tuple[str, float, int, int]]:
    """A trial's result metrics as ``(final/<name>, value, timestamp ms, step 0)`` points."""
    return [(metric_key(FINAL_PREFIX + key), float(value), stamp_ms, 0) for key, value in metrics.items()]


def iteration_points(result: TrialResult, stamp_ms: int) -> list[tuple[str, float, int, int]]:
    """A trial's thinned per-iteration loss as ``(iteration/loss, loss, timestamp ms, iteration)`` points."""
    if result.iteration_loss is None:
        return []
    rows = result.iteration_loss.tolist()
    return [(ITERATION_LOSS, float(loss), stamp_ms, int(iteration)) for iteration, loss in rows]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
