"""Grid search: exactly the cartesian product, conditional branches expanded, seeded order."""

from __future__ import annotations

import itertools
import pickle
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepnet.errors import ConfigError
from sweepnet.records import TrialState
from sweepnet.search import MAX_TRIALS, GridSearcher, SearchSpace, grid_points

_grids = st.dictionaries(
    st.sampled_from(["lr", "reg", "ws", "hidden", "dropout"]),
    st.lists(st.integers(-100, 100), min_size=1, max_size=4, unique=True),
    min_size=1,
    max_size=4,
)


def _searcher(config: object, **options: object) -> GridSearcher:
    return GridSearcher(SearchSpace(config), seed=0, metric="val_acc", mode="max", **options)


def _drain(searcher: GridSearcher) -> list[dict]:
    return list(iter(searcher.ask, None))


@settings(deadline=None)
@given(_grids)
def test_grid_enumerates_exactly_the_product_in_product_order(grids: dict[str, list[int]]) -> None:
    searcher = _searcher({"solver": {key: {"grid": values} for key, values in grids.items()}}, shuffle=False)
    expected = [
        {f"solver.{key}": value for key, value in zip(grids, combo, strict=True)}
        for combo in itertools.product(*grids.values())
    ]
    assert searcher.total == len(expected)
    assert _drain(searcher) == expected
    assert searcher.ask() is None


@settings(deadline=None)
@given(_grids, st.integers(0, 2**32 - 1))
def test_shuffled_grid_is_a_seeded_permutation_of_the_product(grids: dict[str, list[int]], seed: int) -> None:
    config = {key: {"grid": values} for key, values in grids.items()}
    first = _drain(GridSearcher(SearchSpace(config), seed=seed, metric="m", mode="max"))
    again = _drain(GridSearcher(SearchSpace(config), seed=seed, metric="m", mode="max"))
    product = list(grid_points(SearchSpace(config)))
    assert first == again
    assert sorted(first, key=repr) == sorted(product, key=repr)


def test_shuffle_changes_the_order() -> None:
    config = {"a": {"grid": [1, 2, 3]}, "b": {"grid": [1, 2, 3]}}
    orders = {
        tuple(map(repr, _drain(GridSearcher(SearchSpace(config), seed=s, metric="m", mode="max")))) for s in range(5)
    }
    assert len(orders) == 5


def test_conditional_branches_are_expanded() -> None:
    searcher = _searcher(
        {
            "lr": {"grid": [0.1, 0.01]},
            "rule": {
                "choice": [
                    {"name": "sgd"},
                    {"name": "momentum", "m": {"grid": [0.5, 0.9]}, "nesterov": {"choice": [True, False]}},
                ]
            },
            "hidden": {"randint": [1, 2]},
        },
        shuffle=False,
    )
    points = _drain(searcher)
    assert searcher.total == len(points) == 2 * (1 + 2 * 2) * 2
    assert points[:3] == [
        {"lr": 0.1, "rule": "sgd", "hidden": 1},
        {"lr": 0.1, "rule": "sgd", "hidden": 2},
        {"lr": 0.1, "rule": "momentum", "rule.m": 0.5, "rule.nesterov": True, "hidden": 1},
    ]
    assert len({repr(p) for p in points}) == len(points)
    assert all(("rule.m" in p) == (p["rule"] == "momentum") for p in points)


def test_quantised_ranges_are_gridded() -> None:
    points = _drain(_searcher({"p": {"quniform": [0.0, 0.5, 0.25]}, "n": {"qrandint": [8, 32, 8]}}, shuffle=False))
    assert [(p["p"], p["n"]) for p in points] == list(itertools.product([0.0, 0.25, 0.5], [8, 16, 24, 32]))


def test_space_without_parameters_is_one_point() -> None:
    searcher = _searcher({"epochs": 3})
    assert searcher.total == 1
    assert _drain(searcher) == [{}]


@pytest.mark.parametrize("keyword", ["uniform", "loguniform"])
def test_continuous_distribution_is_rejected_with_its_path(keyword: str) -> None:
    config = {"rule": {"choice": [{"name": "adam"}, {"name": "sgd", "lr": {keyword: [0.1, 1.0]}}]}}
    with pytest.raises(ConfigError, match="continuous") as info:
        _searcher(config)
    assert info.value.field == "rule.lr"


def test_tell_is_accepted_and_does_not_change_the_sequence() -> None:
    config = {"a": {"grid": [1, 2, 3]}}
    told = _searcher(config)
    first = told.ask()
    told.tell(first, 0.5, TrialState.COMPLETED)
    told.tell({"a": 3}, None, TrialState.FAILED)  # a re-fed result, never asked here
    assert [first, *_drain(told)] == _drain(_searcher(config))


_CONDITIONAL = {
    "lr": {"grid": [0.1, 0.01, 0.001]},
    "rule": {
        "choice": [
            {"name": "sgd"},
            {"name": "momentum", "m": {"quniform": [0.5, 0.9, 0.1]}, "nesterov": {"choice": [True, False]}},
            {"name": "adam", "beta": {"grid": [[{"choice": [0.8, 0.9]}, 0.999], [0.99, 0.9]]}},
        ]
    },
    "hidden": [{"qrandint": [16, 64, 16]}, 8],
}


def test_points_decoded_from_their_number_are_the_product_in_order() -> None:
    space = SearchSpace(_CONDITIONAL)
    product = list(grid_points(space))
    assert space.size == len(product) == 3 * (1 + 5 * 2 + 3) * 4
    assert [space.point(i) for i in range(space.size)] == product
    assert [list(space.point(i)) for i in range(space.size)] == [list(point) for point in product]  # walk order
    with pytest.raises(IndexError):
        space.point(space.size)


def test_a_space_counted_before_it_was_copied_decodes_its_points_in_the_copy() -> None:
    """The counts are kept by node identity: a copy (a Ray worker's, pickled) counts its own."""
    space = SearchSpace(_CONDITIONAL)
    product = [space.point(i) for i in range(space.size)]
    copied = pickle.loads(pickle.dumps(space))
    assert [copied.point(i) for i in range(copied.size)] == product


@settings(deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_the_order_is_the_one_of_the_listed_grid(seed: int, shuffle: bool) -> None:
    """The points are no longer listed, but come in the order a listed grid gave them (resume relies on it)."""
    space = SearchSpace(_CONDITIONAL)
    listed = list(grid_points(space))
    if shuffle:
        listed = [listed[i] for i in np.random.default_rng(seed).permutation(len(listed))]
    searcher = GridSearcher(space, seed=seed, metric="m", mode="max", shuffle=shuffle)
    assert _drain(searcher) == listed


def test_a_grid_above_the_limit_is_counted_not_listed() -> None:
    config = {"model": {"a": {"qrandint": [1, 10**6, 1]}, "b": {"qrandint": [1, 10**6, 1]}}}
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"the grid has 1,000,000,000,000 points, more than the 100,000 trials"):
            _searcher(config)
        assert tracemalloc.get_traced_memory()[1] < 2**20
    finally:
        tracemalloc.stop()


def test_a_grid_at_the_limit_keeps_only_its_order() -> None:
    searcher = _searcher({"a": {"qrandint": [1, MAX_TRIALS, 1]}})
    assert searcher.total == MAX_TRIALS
    seen = {searcher.ask()["a"] for _ in range(1000)}
    assert len(seen) == 1000 and seen <= set(range(1, MAX_TRIALS + 1))
