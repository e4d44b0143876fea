"""What MLflow tracking costs, per trial-epoch, on a local SQLite store.

1. Store cost: a sweep's per-epoch metrics (``loss``, ``train_acc``, ``val_acc``, ``lr``) written
   one ``MlflowClient.log_metric`` call per value (the baseline), against one ``log_batch`` per
   trial, as the tracker's writer sends them when a trial's reports pile up between its passes.
2. Driver cost: the time the lifecycle hooks take on the driver (``trial_start``, one
   ``trial_report`` per epoch, ``trial_end`` with 64x100 weights) with the tracker enabled,
   while its writer thread flushes to SQLite, against the same calls with tracking disabled
   (pluggy's dispatch alone). Goal: tracking adds at most 2 ms per trial-epoch.

Run::

    .venv/bin/python bench/tracking.py [--trials 40] [--epochs 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState

__all__ = ["main"]

GOAL_MS = 2.0


def _epoch_metrics(epoch: int) -> dict[str, float]:
    return {"loss": 2.0 / epoch, "train_acc": 1 - 1 / (epoch + 1), "val_acc": 1 - 1.2 / (epoch + 1), "lr": 1e-3}


def store_cost(folder: Path, trials: int, epochs: int) -> tuple[float, float]:
    """Seconds per trial-epoch to write every per-epoch metric: (one call per value, one batch per trial)."""
    client = MlflowClient(f"sqlite:///{folder / 'store.db'}")
    experiment = client.create_experiment("bench", artifact_location=(folder / "artifacts").as_uri())

    def per_value() -> None:
        run_id = client.create_run(experiment).info.run_id
        for epoch in range(1, epochs + 1):
            for key, value in _epoch_metrics(epoch).items():
                client.log_metric(run_id, key, value, step=epoch)

    def batched() -> None:
        run_id = client.create_run(experiment).info.run_id
        stamp = int(time.time() * 1000)
        points = [
            Metric(key, value, stamp, epoch)
            for epoch in range(1, epochs + 1)
            for key, value in _epoch_metrics(epoch).items()
        ]
        client.log_batch(run_id, metrics=points)

    timings = []
    for write in (per_value, batched):
        start = time.perf_counter()
        for _ in range(trials):
            write()
        timings.append((time.perf_counter() - start) / (trials * epochs))
    return timings[0], timings[1]


def driver_cost(folder: Path, trials: int, epochs: int, *, enabled: bool) -> float:
    """Seconds per trial-epoch the driver spends in the lifecycle hooks (sweep start and end excluded)."""
    hook = create_plugin_manager(autoload=False).hook
    config = {"tracking": {"uri": f"sqlite:///{folder / f'driver-{enabled}.db'}", "enabled": enabled}}
    sweep = SweepInfo(f"driver-{enabled}", config, "", "val_acc", "max")
    hook.sweepnet_sweep_start(sweep=sweep)
    rng = np.random.default_rng(0)
    results, spent = [], 0.0
    for number in range(trials):
        spec = TrialSpec(f"{number:040x}", number, {"lr": 10.0 ** -(number % 4)}, {}, seed=number)
        history = [{"epoch": epoch, **_epoch_metrics(epoch)} for epoch in range(1, epochs + 1)]
        weights = {"W1": rng.standard_normal((64, 100)), "b1": np.zeros(100), "W2": rng.standard_normal((100, 10))}
        metrics = {"val_acc": 0.9, "test_acc": 0.89}
        result = TrialResult(spec.trial_id, TrialState.COMPLETED, metrics, history, 1.0, weights)
        start = time.perf_counter()
        hook.sweepnet_trial_start(sweep=sweep, trial=spec)
        for epoch in range(1, epochs + 1):
            hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=epoch, metrics=_epoch_metrics(epoch))
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
        spent += time.perf_counter() - start
        results.append(result)
        time.sleep(0.01)  # a trial's worth of driver idle time, in which the writer catches up
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    return spent / (trials * epochs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        per_value, batched = store_cost(folder, args.trials, args.epochs)
        print(f"store cost per trial-epoch (4 metrics), SQLite, {args.trials} trials x {args.epochs} epochs")
        print(f"  one log_metric per value : {1e3 * per_value:8.3f} ms")
        print(f"  one log_batch per trial  : {1e3 * batched:8.3f} ms   -> {per_value / batched:.1f}x cheaper batched")
        untracked = driver_cost(folder, args.trials, args.epochs, enabled=False)
        tracked = driver_cost(folder, args.trials, args.epochs, enabled=True)
        added = tracked - untracked
        print("driver cost per trial-epoch (lifecycle hooks; the writer thread flushes meanwhile)")
        print(f"  tracking disabled        : {1e3 * untracked:8.3f} ms")
        print(f"  tracking enabled         : {1e3 * tracked:8.3f} ms")
        verdict = "met" if added * 1e3 <= GOAL_MS else "MISSED"
        print(f"  added by tracking        : {1e3 * added:8.3f} ms   (goal <= {GOAL_MS} ms: {verdict})")


if __name__ == "__main__":
    main()
