"""Random search: reproducible, independent of the global numpy state, samples inside the space."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sweepnet.records import TrialState
from sweepnet.search import RandomSearcher, SearchSpace

CONFIG = {
    "lr": {"loguniform": [1.0e-5, 1.0e-1]},
    "hidden": {"grid": [32, 64, 128]},
    "rule": {"choice": [{"name": "sgd"}, {"name": "momentum", "m": {"quniform": [0.5, 0.95, 0.05]}}]},
}


def _points(seed: int | None, n: int = 20) -> list[dict]:
    searcher = RandomSearcher(SearchSpace(CONFIG), seed=seed, metric="val_acc", mode="max")
    return [searcher.ask() for _ in range(n)]


@given(st.integers(0, 2**63))
def test_same_seed_gives_the_same_sequence(seed: int) -> None:
    assert _points(seed) == _points(seed)


def test_sequence_does_not_depend_on_global_numpy_state() -> None:
    np.random.seed(1)
    first = _points(7)
    np.random.seed(2)
    np.random.rand(100)
    assert _points(7) == first


def test_different_seeds_differ_and_no_seed_is_fresh() -> None:
    assert _points(1) != _points(2)
    assert _points(None) != _points(None)


def test_samples_lie_in_the_space_and_cover_grid_entries() -> None:
    space = SearchSpace(CONFIG)
    points = _points(0, n=200)
    assert all(space.contains(p) for p in points)
    assert {p["hidden"] for p in points} == {32, 64, 128}
    assert {p["rule"] for p in points} == {"sgd", "momentum"}
    assert all(("rule.m" in p) == (p["rule"] == "momentum") for p in points)


def test_is_never_exhausted_and_ignores_results() -> None:
    searcher = RandomSearcher(SearchSpace(CONFIG), seed=3, metric="val_acc", mode="max")
    assert searcher.total is None
    first = searcher.ask()
    searcher.tell(first, 0.9, TrialState.COMPLETED)
    searcher.tell({"lr": 0.5}, None, TrialState.FAILED)  # not even in the space: ignored
    assert [first, searcher.ask()] == _points(3, n=2)
