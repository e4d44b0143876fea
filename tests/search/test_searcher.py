"""The Searcher base class: argument validation shared by every searcher."""

from __future__ import annotations

from typing import Any

import pytest

from sweepnet.errors import ConfigError
from sweepnet.search import GridSearcher, RandomSearcher, Searcher, SearchSpace, TPESearcher

SPACE = SearchSpace({"x": {"grid": [1, 2]}})


class _Fixed(Searcher):
    def ask(self) -> dict[str, Any] | None:
        return {"x": 1}


@pytest.mark.parametrize("cls", [GridSearcher, RandomSearcher, TPESearcher])
def test_unknown_option_names_the_key(cls: type[Searcher]) -> None:
    with pytest.raises(ConfigError, match="unknown key") as info:
        cls(SPACE, seed=0, metric="val_acc", mode="max", n_trials=3)
    assert info.value.field == "searcher.n_trials"


def test_option_of_wrong_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        TPESearcher(SPACE, seed=0, metric="val_acc", mode="max", n_startup_trials=-1)
    assert info.value.field == "searcher.n_startup_trials"


@pytest.mark.parametrize("mode", ["maximize", "", None])
def test_mode_must_be_max_or_min(mode: object) -> None:
    with pytest.raises(ConfigError, match="'max' or 'min'"):
        _Fixed(SPACE, seed=0, metric="val_acc", mode=mode)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_seed_must_be_a_non_negative_integer(seed: object) -> None:
    with pytest.raises(ConfigError, match="seed"):
        _Fixed(SPACE, seed=seed, metric="val_acc", mode="max")


def test_defaults_of_the_base_class() -> None:
    searcher = _Fixed(SPACE, metric="loss", mode="min")
    assert (searcher.seed, searcher.metric, searcher.mode, searcher.total) == (None, "loss", "min", None)
