"""Sweeps driven through the lifecycle hooks as the scheduler calls them, and reading them back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from sweepnet.bundle import ModelBundle
from sweepnet.data.dataset import DatasetMeta
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState

SWEEP_FILE = """\
name: {name}
data: {{name: digits}}
model:
  name: fc_net
  hidden_dims: [{{grid: [8, 16]}}]
  reg: {{grid: [0.0, 0.1]}}
solver:
  num_epochs: 3
  optim_config: {{learning_rate: {{loguniform: [1.0e-4, 1.0e-1]}}}}
"""
LR, REG, HIDDEN = "solver.optim_config.learning_rate", "model.reg", "model.hidden_dims[0]"
PER_EPOCH = ("loss", "train_acc", "val_acc", "lr")


def make_sweep(name: str, uri: str | None, *, resumed: bool = False, **settings) -> SweepInfo:
    text = SWEEP_FILE.format(name=name)
    config = {**yaml.safe_load(text), "tracking": {"uri": uri, "enabled": True, **settings}}
    meta = DatasetMeta("digits", "classification", (1, 8, 8), num_classes=10)
    return SweepInfo(name, config, text, "val_acc", "max", resumed, ("solver.num_epochs=3",), meta)


def make_spec(number: int) -> TrialSpec:
    params = {LR: 10.0 ** -(1 + number % 3), REG: (0.0, 0.1)[number % 2], HIDDEN: (8, 16)[number // 2 % 2]}
    config = {"model": {"name": "fc_net", "hidden_dims": [params[HIDDEN]], "reg": params[REG]}, "lr": params[LR]}
    return TrialSpec(f"{number:02d}" + "c0ffee" * 6 + "ab", number, params, config, seed=1000 + number)


def record_trial(hook, sweep, number, *, score=0.5, epochs=3, state=TrialState.COMPLETED, end=True):
    """Start trial ``number``, report ``epochs`` epochs, end it in ``state``; returns (spec, result)."""
    spec = make_spec(number)
    hook.sweepnet_trial_start(sweep=sweep, trial=spec)
    history = []
    for epoch in range(1, epochs + 1):
        metrics = {"loss": 2.0 / epoch, "train_acc": score * epoch / epochs + 0.05, "val_acc": score * epoch / epochs}
        metrics["lr"] = spec.params[LR] * 0.9 ** (epoch - 1)
        hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=epoch, metrics=metrics)
        history.append({"epoch": epoch, **metrics})
    result = TrialResult(
        spec.trial_id,
        state,
        metrics={"val_acc": score, "test_acc": score - 0.01, "epochs": float(epochs)} if history else {},
        history=history,
        duration_s=1.25 + number,
        weights={"W1": np.random.default_rng(number).standard_normal((64, 8)), "b1": np.zeros(8)},
        node="127.0.0.1",
        worker=f"worker-{number % 2}",
        retries=number % 2,
    )
    if state is TrialState.FAILED:
        result.metrics, result.weights = {}, None
        result.error = "Traceback (most recent call last):\n  File 'x.py', line 1\nValueError: bad shapes (3, 4)\n"
    if end:
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
    return spec, result


def runs_of(uri: str, name: str):
    """(parent runs, child runs by trial number) of sweep ``name``, straight from the store."""
    runs = search(uri, name)
    parents = [run for run in runs if run.data.tags["sweepnet.kind"] == "sweep"]
    trials = [run for run in runs if run.data.tags["sweepnet.kind"] == "trial"]
    children = {int(run.data.tags["sweepnet.trial_number"]): run for run in trials}
    assert len(children) == len(trials), "two active runs for one trial"
    return parents, children


def deleted_trials(uri: str, name: str) -> list[int]:
    """Trial numbers of the deleted child runs of sweep ``name``."""
    return sorted(int(run.data.tags["sweepnet.trial_number"]) for run in search(uri, name, ViewType.DELETED_ONLY))


def search(uri: str, name: str, view=ViewType.ACTIVE_ONLY):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    runs, token = [], None
    while True:
        page = client.search_runs([experiment.experiment_id], run_view_type=view, max_results=1000, page_token=token)
        runs += page
        token = page.token
        if not token:
            return runs


def artifact(uri: str, run, path: str, tmp_path: Path) -> bytes:
    folder = tmp_path / run.info.run_id
    folder.mkdir(exist_ok=True)
    return Path(MlflowClient(uri).download_artifacts(run.info.run_id, path, str(folder))).read_bytes()


def artifacts_of(uri: str, run, folder: str | None = None) -> set[str]:
    return {info.path for info in MlflowClient(uri).list_artifacts(run.info.run_id, folder)}


def history_of(uri: str, run, key: str) -> list[tuple[int, float]]:
    return sorted((point.step, point.value) for point in MlflowClient(uri).get_metric_history(run.info.run_id, key))


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    """The weights in a model file (``model.npz``, ``best_model.npz``; see sweepnet.bundle)."""
    return ModelBundle.read(data).weights
