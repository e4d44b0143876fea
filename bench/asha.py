"""ASHA against the full grid: the same best validation accuracy for a fraction of the epochs.

A 27-point FC-net grid on ``digits`` (3 learning rates x 3 weight scales x 3 regularisation
strengths, 27 epochs each) runs twice through the real scheduler on 2 workers: once without a
pruner, once with ASHA (rungs at epochs 1, 3 and 9, reduction factor 3). The grid searcher
shuffles its points (seeded), so ASHA does not see the grid's trend in order.

Goals: ASHA's best validation accuracy within 1 point of the full grid's, spending at most a
third of the grid's total epochs. Run::

    .venv/bin/python bench/asha.py
"""

from __future__ import annotations

import argparse
import time

from sweepnet.config import plan_from_text
from sweepnet.rules import SweepOutcome
from sweepnet.scheduler import run_sweep

__all__ = ["main"]

WORKERS = 2
MAX_GAP = 0.01  # one point of accuracy
MAX_EPOCH_SHARE = 1 / 3

GRID = """\
name: bench-asha
seed: 0
data: {name: digits, flatten: true, standardize: true}
model:
  name: fc
  hidden_dims: [100]
  weight_scale: {grid: [1.0e-3, 1.0e-2, 1.0e-1]}
  reg: {grid: [0.0, 1.0e-2, 1.0e-1]}
solver:
  update_rule: sgd_momentum
  optim_config: {learning_rate: {grid: [1.0e-3, 1.0e-2, 1.0e-1]}}
  batch_size: 64
  num_epochs: 27
search: {searcher: grid}
pruner: {name: asha, grace_period: 1, reduction_factor: 3}
tracking: {enabled: false}
"""


def sweep(prune: bool) -> tuple[SweepOutcome, float]:
    """Run the grid with ASHA or without a pruner; returns the outcome and wall seconds."""
    plan = plan_from_text(GRID, [] if prune else ["pruner={name: none}"], "bench-asha")
    start = time.perf_counter()
    outcome = run_sweep(plan, max_concurrent=WORKERS)
    return outcome, time.perf_counter() - start


def summary(outcome: SweepOutcome) -> tuple[float, int]:
    """(best val_acc, epochs trained over all trials)."""
    best = outcome.best
    assert best is not None, "no trial produced a validation accuracy"
    return best[1].metrics["val_acc"], sum(len(result.history) for _, result in outcome.entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    full, full_s = sweep(prune=False)
    asha, asha_s = sweep(prune=True)
    full_acc, full_epochs = summary(full)
    asha_acc, asha_epochs = summary(asha)
    share = asha_epochs / full_epochs
    print(f"{'':<10} {'best val_acc':>12} {'epochs':>7} {'seconds':>8}")
    print(f"{'full grid':<10} {full_acc:12.4f} {full_epochs:7d} {full_s:8.1f}")
    print(f"{'ASHA':<10} {asha_acc:12.4f} {asha_epochs:7d} {asha_s:8.1f}")
    pruned = sum(result.state.value == "PRUNED" for _, result in asha.entries)
    print(f"ASHA pruned {pruned} of {len(asha.entries)} trials; {share:.1%} of the grid's epochs")
    print(f"{'PASS' if full_acc - asha_acc <= MAX_GAP else 'FAIL'}  best val_acc within {MAX_GAP:g} of the grid's")
    print(f"{'PASS' if share <= MAX_EPOCH_SHARE else 'FAIL'}  at most {MAX_EPOCH_SHARE:.0%} of the grid's epochs")


if __name__ == "__main__":
    main()
