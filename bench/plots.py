"""What a sweep's summary figures and report cost at the end of a sweep, at 60 and at 3000 trials,
and what logging the per-iteration loss adds to a trial's writes.

1. Summary: :func:`sweepnet.report.sweep_report` (every figure of :func:`sweepnet.plots.sweep_plots`
   drawn and rendered to PNG, and report.html) over made-up trials shaped like the main job
   (``examples/quickstart.yaml``: a choice of 3 hidden sizes and 3 log ranges, 40 epochs,
   ASHA cutting most trials at epoch 4 or 12, 1000 per-iteration losses a trial). The baseline
   is the same at 60 trials, in the same process. Goal: 3000 trials cost at most 3 times what
   60 do (nothing quadratic, no artist per trial).
2. Store: one trial's writes on SQLite, its 40 epochs of 4 metrics in one ``log_batch``
   (the baseline), against the same with its 1000 ``iteration/loss`` points.

Run::

    .venv/bin/python bench/plots.py [--trials 3000]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from sweepnet.data import DatasetMeta
from sweepnet.records import TrialResult, TrialSpec, TrialState

__all__ = ["main"]

GOAL_RATIO = 3.0
EPOCHS = 40
CONFIG = {
    "name": "bench-plots",
    "seed": 0,
    "data": {"name": "digits", "flatten": True},
    "model": {
        "name": "fc",
        "hidden_dims": {"choice": [[256], [512], [1024]]},
        "weight_scale": {"loguniform": [1e-2, 1e-1]},
        "reg": {"loguniform": [1e-5, 3e-3]},
    },
    "solver": {"optim_config": {"learning_rate": {"loguniform": [5e-4, 5e-3]}}, "num_epochs": EPOCHS},
}
META = DatasetMeta("digits", "classification", (64,), num_classes=10, class_names=tuple("0123456789"))


def entries(count: int, seed: int = 0) -> list[tuple[TrialSpec, TrialResult]]:
    """``count`` made-up trials of the main job's space; a third of them stopped at epoch 4, a third at 12."""
    rng = np.random.default_rng(seed)
    made = []
    for number in range(count):
        params = {
            "model.hidden_dims": [[256], [512], [1024]][number % 3],
            "model.weight_scale": float(10 ** rng.uniform(-2, -1)),
            "model.reg": float(10 ** rng.uniform(-5, np.log10(3e-3))),
            "solver.optim_config.learning_rate": float(10 ** rng.uniform(np.log10(5e-4), np.log10(5e-3))),
        }
        epochs = (4, 12, EPOCHS)[number % 3]
        quality = 1 - abs(np.log10(params["solver.optim_config.learning_rate"]) + 2.7) / 2
        history = [
            {
                "epoch": e,
                "loss": 2.3 * np.exp(-e * quality / 4),
                "train_acc": quality * (1 - 0.5 / e),
                "val_acc": quality * (1 - 0.6 / e),
            }
            for e in range(1, epochs + 1)
        ]
        steps = np.linspace(1, epochs * 39, min(1000, epochs * 39))
        loss = np.column_stack([steps, 2.3 * np.exp(-steps * quality / 150) + 0.05 * rng.random(len(steps))])
        metrics = {
            "val_acc": max(row["val_acc"] for row in history),
            "train_acc": history[-1]["train_acc"],
            "test_acc": quality,
        }
        state = TrialState.COMPLETED if epochs == EPOCHS else TrialState.PRUNED
        spec = TrialSpec(f"{number:040x}", number, params, {}, seed=number)
        made.append(
            (spec, TrialResult(spec.trial_id, state, metrics, history, 1.0, iteration_loss=loss.astype(np.float32)))
        )
    return made


def summary_seconds(count: int) -> tuple[float, float, int, int]:
    """Wall and CPU seconds to draw, render and write the report of ``count`` trials, the
    figures drawn and the report's bytes."""
    from sweepnet.report import sweep_report

    made = entries(count)
    weights = {"W1": np.random.default_rng(1).standard_normal((64, 256)), "W2": np.zeros((256, 10))}
    start, cpu = time.perf_counter(), time.process_time()
    pictures, page = sweep_report(
        "bench-plots", made, CONFIG, "val_acc", "max", status="FINISHED", data_meta=META, best_weights=weights
    )
    return time.perf_counter() - start, time.process_time() - cpu, len(pictures), len(page)


def store_seconds(folder: Path, trials: int) -> list[tuple[float, float]]:
    """Wall and CPU seconds per trial to write its epochs (the baseline), then its epochs and
    1000 per-iteration points."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{folder / 'store.db'}")
    experiment = client.create_experiment("bench", artifact_location=(folder / "artifacts").as_uri())
    stamp = int(time.time() * 1000)
    epochs = [
        Metric(key, 0.5, stamp, e) for e in range(1, EPOCHS + 1) for key in ("loss", "train_acc", "val_acc", "lr")
    ]
    iterations = [Metric("iteration/loss", 1.0 / step, stamp, step) for step in range(1, 1001)]
    timings = []
    for points in (epochs, epochs + iterations):
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(trials):
            run_id = client.create_run(experiment).info.run_id
            for first in range(0, len(points), 1000):  # MLflow takes at most 1000 metrics a batch
                client.log_batch(run_id, metrics=points[first : first + 1000])
        timings.append(((time.perf_counter() - start) / trials, (time.process_time() - cpu) / trials))
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3000, help="the large sweep's trials (default: 3000)")
    parser.add_argument("--store-trials", type=int, default=30, help="trials written per store variant (default: 30)")
    args = parser.parse_args(argv)

    blas = sorted(
        {
            f"{info['internal_api']} {info.get('architecture') or ''}".strip()
            for info in threadpool_info()
            if info["user_api"] == "blas"
        }
    )
    print(f"CPU: {platform.processor() or platform.machine()}; BLAS: {', '.join(blas) or 'none loaded'}")
    summary_seconds(12)  # imports and matplotlib's font cache outside the timings
    small = summary_seconds(60)
    large = summary_seconds(args.trials)
    for count, (wall, cpu, figures, html) in ((60, small), (args.trials, large)):
        print(
            f"summary of {count:5d} trials: {wall:6.2f} s wall, {cpu:6.2f} s CPU "
            f"({figures} figures, report.html {html / 1e6:.2f} MB)"
        )
    ratio = large[1] / small[1]
    print(f"CPU ratio {ratio:.2f} (goal <= {GOAL_RATIO:g}): {'ok' if ratio <= GOAL_RATIO else 'MISSED'}")

    with tempfile.TemporaryDirectory() as folder:
        (base_wall, base_cpu), (wall, cpu) = store_seconds(Path(folder), args.store_trials)
    print(
        f"store, one trial: {base_wall * 1e3:.0f} ms wall, {base_cpu * 1e3:.0f} ms CPU for its epochs; "
        f"{wall * 1e3:.0f} ms wall, {cpu * 1e3:.0f} ms CPU with 1000 iteration/loss points "
        f"(CPU ratio {cpu / base_cpu:.2f})"
    )
    return 0 if ratio <= GOAL_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
