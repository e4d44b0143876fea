"""Grid search: every point of a finite space exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from sweepnet.errors import ConfigError
from sweepnet.search.distributions import Distribution
from sweepnet.search.searcher import MAX_TRIALS, Mode, Searcher
from sweepnet.search.space import SearchSpace

__all__ = ["GridSearcher", "grid_points"]


class GridSearcher(Searcher):
    """Every combination of the grid/choice values (and of quantised or integer ranges), each once.

    Conditional branches are expanded: a ``choice`` among a branch with 3 points and one with
    none contributes 4 points. A continuous distribution (``uniform``, ``loguniform``) has no
    grid and is a :class:`ConfigError` naming its path.

    By default the points come in a permutation seeded by ``seed`` rather than in
    ``itertools.product`` order: asynchronous pruners (ASHA, median) judge each trial against
    those seen so far, and product order feeds them the outer loop's trend (ascending learning
    rates ...), which defeats early stopping. ``shuffle: false`` keeps product order (the first
    parameter varying slowest). Either way the order is a function of the space and seed only.
    A grid of more than :data:`~sweepnet.search.searcher.MAX_TRIALS` points is refused: it is
    counted, never listed.
    """

    class Options(BaseModel):
        """Config keys of ``grid``."""

        model_config = ConfigDict(extra="forbid")
        shuffle: bool = True

    options: Options

    def __init__(self, space: SearchSpace, *, seed: int | None = None, metric: str, mode: Mode, **options: Any) -> None:
        super().__init__(space, seed=seed, metric=metric, mode=mode, **options)
        for path, distribution in space.leaves():
            if not distribution.is_finite:
                raise ConfigError(
                    path,
                    f"{distribution.keyword} is continuous and cannot be gridded; use grid/choice, "
                    "a quantised distribution, or the random/tpe searcher",
                )
        size = space.size
        assert size is not None  # every distribution is finite, checked above
        if size > MAX_TRIALS:
            raise ConfigError(
                "search.searcher",
                f"the grid has {size:,} points, more than the {MAX_TRIALS:,} trials a sweep may run; "
                "grid fewer values, or sample the space with random or tpe and search.num_samples",
            )
        self._size = size
        # Points are decoded from their number (SearchSpace.point), never listed: the order
        # costs 8 bytes per point, the points themselves nothing until asked.
        shuffled = self.options.shuffle
        self._order = np.random.default_rng(self.seed).permutation(size) if shuffled else range(size)
        self._asked = 0

    @property
    def total(self) -> int:
        return self._size

    def ask(self) -> dict[str, Any] | None:
        if self._asked == self._size:
            return None
        self._asked += 1
        return self.space.point(int(self._order[self._asked - 1]))


def grid_points(space: SearchSpace) -> Iterator[dict[str, Any]]:
    """Every point of a finite ``space`` in ``itertools.product`` order (last parameter fastest).

    Works on the define-by-run walk like an odometer: walk once taking the first value of every
    parameter, then advance the deepest parameter that has values left and walk again, so a
    branch's parameters are enumerated only under the option that defines them.
    """
    digits: list[int] = []  # index of the value taken by the i-th parameter of the walk
    while True:
        params, sizes = _walk(space, digits)
        yield params
        while digits and digits[-1] + 1 == sizes[len(digits) - 1]:
            digits.pop()
        if not digits:
            return
        digits[-1] += 1


def _walk(space: SearchSpace, digits: list[int]) -> tuple[dict[str, Any], list[int]]:
    """Walk taking value ``digits[i]`` for the i-th parameter (extending ``digits`` with 0s).

    Returns the params and how many values each parameter visited had.
    """
    sizes: list[int] = []

    def suggest(path: str, distribution: Distribution) -> Any:
        if len(sizes) == len(digits):
            digits.append(0)
        value = distribution.value_at(digits[len(sizes)])
        size = distribution.size
        assert size is not None  # value_at raised above for a distribution that is not finite
        sizes.append(size)
        return value

    return space.walk(suggest), sizes
