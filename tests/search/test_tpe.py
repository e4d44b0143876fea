"""TPE through ask/tell: beats random search, handles branches, takes re-fed results."""

from __future__ import annotations

import logging

import numpy as np
import optuna
import pytest

from sweepnet.records import TrialState
from sweepnet.search import RandomSearcher, Searcher, SearchSpace, TPESearcher

PLANE = SearchSpace({"x": {"uniform": [-2.0, 2.0]}, "y": {"uniform": [-2.0, 2.0]}})


def _distance(params: dict) -> float:
    """Squared distance to the minimum at (0.7, -0.3)."""
    return (params["x"] - 0.7) ** 2 + (params["y"] + 0.3) ** 2


def _best_distance(searcher: Searcher, n: int) -> float:
    best = np.inf
    for _ in range(n):
        params = searcher.ask()
        distance = _distance(params)
        searcher.tell(params, distance, TrialState.COMPLETED)
        best = min(best, distance)
    return best


def test_tpe_beats_random_search_on_a_2d_bowl() -> None:
    def mean_best(cls: type[Searcher]) -> float:
        return np.mean([_best_distance(cls(PLANE, seed=s, metric="d", mode="min"), 60) for s in range(5)])

    assert mean_best(TPESearcher) < 0.3 * mean_best(RandomSearcher)


def test_tpe_maximises_in_max_mode() -> None:
    searcher = TPESearcher(SearchSpace({"x": {"uniform": [0.0, 1.0]}}), seed=0, metric="acc", mode="max")
    for _ in range(30):
        params = searcher.ask()
        searcher.tell(params, -((params["x"] - 0.9) ** 2), TrialState.COMPLETED)
    assert abs(searcher._study.best_params["x"] - 0.9) < 0.05


def test_same_seed_same_sequence() -> None:
    def run(seed: int) -> list[dict]:
        searcher = TPESearcher(PLANE, seed=seed, metric="d", mode="min")
        points = []
        for _ in range(15):
            points.append(searcher.ask())
            searcher.tell(points[-1], _distance(points[-1]), TrialState.COMPLETED)
        return points

    assert run(4) == run(4)


def test_refed_results_steer_a_fresh_searcher() -> None:
    old = RandomSearcher(PLANE, seed=1, metric="d", mode="min")
    history = [old.ask() for _ in range(40)]
    resumed = TPESearcher(PLANE, seed=2, metric="d", mode="min", n_startup_trials=10)
    for params in history:
        resumed.tell(params, _distance(params), TrialState.COMPLETED)
    assert len(resumed._study.trials) == 40
    suggested = [resumed.ask() for _ in range(10)]
    assert np.mean([_distance(p) for p in suggested]) < 0.6 * np.mean([_distance(p) for p in history])


def test_results_outside_the_space_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    searcher = TPESearcher(PLANE, seed=0, metric="d", mode="min")
    with caplog.at_level(logging.WARNING, logger="sweepnet.search.tpe"):
        searcher.tell({"x": 5.0, "y": 0.0}, 1.0, TrialState.COMPLETED)
        searcher.tell({"x": 0.0}, 1.0, TrialState.COMPLETED)
    assert len(searcher._study.trials) == 0
    assert caplog.text.count("not in the search space") == 2


def test_states_map_to_optuna_conventions() -> None:
    searcher = TPESearcher(PLANE, seed=0, metric="d", mode="min")
    asked = [searcher.ask() for _ in range(5)]
    # told out of order, as concurrent trials finish
    searcher.tell(asked[3], 0.5, TrialState.PRUNED)
    searcher.tell(asked[0], 1.0, TrialState.COMPLETED)
    searcher.tell(asked[4], float("nan"), TrialState.COMPLETED)
    searcher.tell(asked[1], None, TrialState.DIVERGED)
    searcher.tell({"x": 0.1, "y": 0.2}, 0.3, TrialState.COMPLETED)  # re-fed
    states = [t.state for t in searcher._study.trials]
    optuna_state = optuna.trial.TrialState
    assert states == [
        optuna_state.COMPLETE,
        optuna_state.FAIL,
        optuna_state.RUNNING,
        optuna_state.PRUNED,
        optuna_state.FAIL,
        optuna_state.COMPLETE,
    ]
    with pytest.raises(ValueError, match="final trial state"):
        searcher.tell(asked[2], 0.1, TrialState.RUNNING)


def test_sampler_uses_constant_liar_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    built = {}

    def spy(**kwargs: object) -> optuna.samplers.TPESampler:
        built.update(kwargs)
        return sampler_class(**kwargs)

    sampler_class = optuna.samplers.TPESampler
    monkeypatch.setattr(optuna.samplers, "TPESampler", spy)
    TPESearcher(PLANE, seed=5, metric="d", mode="min", n_startup_trials=3)
    assert built["constant_liar"] is True  # parallel asks see running trials as bad: no collapse
    assert (built["seed"], built["n_startup_trials"]) == (5, 3)


def test_conditional_spaces_and_per_branch_ranges() -> None:
    space = SearchSpace(
        {
            "rule": {
                "choice": [
                    {"name": "sgd", "lr": {"loguniform": [1.0e-3, 1.0e-1]}, "m": {"quniform": [0.5, 0.9, 0.1]}},
                    {"name": "adam", "lr": {"loguniform": [1.0e-5, 1.0e-3]}, "layers": {"qrandint": [1, 9, 2]}},
                ]
            },
            "depth": {"grid": [[64], [64, 64]]},
        }
    )
    searcher = TPESearcher(space, seed=0, metric="acc", mode="max", n_startup_trials=4)
    for _ in range(16):
        params = searcher.ask()
        config = space.resolve(params)  # every value lies in the distribution of its own branch
        expected = {"rule", "rule.lr", "depth"} | ({"rule.m"} if params["rule"] == "sgd" else {"rule.layers"})
        assert set(params) == expected
        searcher.tell(params, float(config["rule"]["lr"]), TrialState.COMPLETED)
    names = {name for t in searcher._study.trials for name in t.params}
    assert names == {"rule", "rule.lr", "rule.lr#1", "rule.m", "rule.layers", "depth"}


def test_optuna_logging_is_quiet() -> None:
    TPESearcher(PLANE, seed=0, metric="d", mode="min")
    assert optuna.logging.get_verbosity() >= optuna.logging.WARNING
