"""ASHA: rung placement, rung decisions with interleaved trials, both modes, and its budget."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sweepnet.search import ASHAPruner, GridSearcher, Pruner, SearchSpace
from sweepnet.search.asha import Rungs


def _asha(mode: str = "max", max_epochs: int = 27, **options: int) -> ASHAPruner:
    return ASHAPruner(metric="val_acc", mode=mode, max_epochs=max_epochs, **options)


@pytest.mark.parametrize(
    ("grace", "eta", "max_epochs", "milestones"),
    [
        (1, 3, 27, [1, 3, 9]),
        (1, 3, 28, [1, 3, 9, 27]),
        (2, 2, 16, [2, 4, 8]),
        (5, 3, 5, []),
        (1, 4, 100, [1, 4, 16, 64]),
    ],
)
def test_rungs_sit_at_grace_times_powers_of_eta_below_max_epochs(
    grace: int, eta: int, max_epochs: int, milestones: list[int]
) -> None:
    assert Rungs(grace, eta, max_epochs).milestones == milestones


def test_defaults() -> None:
    pruner = _asha()
    assert (pruner.options.grace_period, pruner.options.reduction_factor) == (1, 3)
    assert pruner.rungs.milestones == [1, 3, 9]


def test_top_third_of_the_values_recorded_so_far_continue() -> None:
    pruner = _asha()
    decisions = [pruner.report(f"t{i}", 1, value) for i, value in enumerate([0.5, 0.4, 0.6, 0.55, 0.3, 0.58, 0.7])]
    # n=1..5 keep the best so far; n=6 keeps the top 2 (0.6, 0.58); n=7 keeps the top 2 (0.7, 0.6)
    assert decisions == [False, True, False, True, True, False, False]


def test_only_rung_epochs_decide() -> None:
    pruner = _asha()
    pruner.report("best", 1, 0.9)
    pruner.report("best", 3, 0.9)
    assert not pruner.report("weak", 1, 0.9)  # a tie continues
    assert not pruner.report("weak", 2, 0.1)  # between rungs
    assert pruner.report("weak", 3, 0.1)
    pruner.report("best", 9, 0.95)
    assert not pruner.report("best", 26, 0.0)
    assert not pruner.report("other", 27, 0.0)  # the last epoch never stops a trial


def test_interleaved_concurrent_trials() -> None:
    pruner = _asha(max_epochs=9)  # rungs at 1 and 3
    script = [
        ("a", 1, 0.50, False),  # first at rung 1
        ("b", 1, 0.60, False),  # best of two
        ("a", 2, 0.55, False),
        ("c", 1, 0.40, True),  # third of three
        ("b", 2, 0.65, False),
        ("a", 3, 0.58, False),  # first at rung 3
        ("d", 1, 0.45, True),  # keep 1 of 4
        ("e", 1, 0.70, False),
        ("b", 3, 0.57, True),  # below a's 0.58 at rung 3: reported later, judged on what is recorded
        ("f", 1, 0.62, False),  # n=6: top 2 are 0.70 and 0.62
        ("e", 3, 0.75, False),
        ("a", 9, 0.10, False),  # max_epochs is no rung
    ]
    assert [pruner.report(trial, epoch, value) for trial, epoch, value, _ in script] == [s[-1] for s in script]


def test_min_mode_mirrors_max_mode() -> None:
    rng = np.random.default_rng(0)
    trials, epochs, values = rng.integers(0, 12, 200), rng.integers(1, 27, 200), rng.random(200)
    reports = [(f"t{i}", int(e), float(v)) for i, e, v in zip(trials, epochs, values, strict=True)]
    maximised = _asha("max")
    minimised = _asha("min")
    for trial, epoch, value in reports:
        assert maximised.report(trial, epoch, value) == minimised.report(trial, epoch, -value)


def test_skipped_rung_is_judged_at_the_next_one_and_a_rung_decides_once() -> None:
    pruner = _asha()
    pruner.report("a", 3, 0.9)
    assert pruner.report("b", 4, 0.5)  # reports every 4 epochs: judged at rung 3
    assert not pruner.report("c", 27, 0.5)  # reports only at the end: complete, not pruned
    assert not pruner.report("a", 3, 0.1)  # a retry re-reporting rung 3: already decided


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_value_at_a_rung_stops_even_the_first_trial(value: float) -> None:
    assert _asha("min").report("a", 1, value)


# ---------------------------------------------------------------- budget of the defaults


def _sweep(
    curves: Sequence[Sequence[float]], order: Sequence[int], pruner: Pruner, workers: int = 2
) -> tuple[int, float]:
    """Run trials in ``order`` on ``workers`` that finish an epoch each per tick, as the driver would.

    Returns the epochs spent and the best value seen.
    """
    queue = list(order)
    running = {worker: [queue.pop(0), 0] for worker in range(workers)}
    spent, best = 0, -np.inf
    while running:
        for worker, (trial, epoch) in sorted(running.items()):
            epoch += 1
            spent += 1
            best = max(best, curves[trial][epoch - 1])
            if pruner.report(f"t{trial}", epoch, curves[trial][epoch - 1]) or epoch == len(curves[trial]):
                if queue:
                    running[worker] = [queue.pop(0), 0]
                else:
                    del running[worker]
            else:
                running[worker] = [trial, epoch]
    return spent, best


def test_defaults_keep_the_best_at_a_fraction_of_a_shuffled_27_point_grid() -> None:
    """27 trials x 27 epochs on 2 workers, in the grid searcher's seeded orders.

    Curves that rank trials early as they rank them at the end: the best trial is always in the
    top third at its rungs, and about a third of the trials pass each rung.
    """
    quality = np.linspace(0.1, 0.98, 27)
    curves = [q * (1 - np.exp(-np.arange(1, 28) / 2.0)) for q in quality]
    space = SearchSpace({"trial": {"grid": list(range(27))}})
    costs = []
    for seed in range(20):
        order = [point["trial"] for point in iter(GridSearcher(space, seed=seed, metric="m", mode="max").ask, None)]
        spent, best = _sweep(curves, order, _asha())
        assert best == max(c[-1] for c in curves)
        costs.append(spent / (27 * 27))
    assert np.mean(costs) < 0.25 and np.median(costs) < 1 / 3
    ascending, _ = _sweep(curves, range(27), _asha())
    assert ascending / (27 * 27) > 0.5  # why the grid shuffles: an ascending trend defeats the rungs
