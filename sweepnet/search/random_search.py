"""Random search: independent seeded draws from the space."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnet.search.searcher import Mode, Searcher
from sweepnet.search.space import SearchSpace

__all__ = ["RandomSearcher"]


class RandomSearcher(Searcher):
    """Draws every parameter independently: uniformly, or on a log scale for log spaces.

    ``grid`` entries are drawn like ``choice`` entries. Point ``n`` is drawn with its own
    generator seeded by ``(seed, n)``, so the sequence is reproducible, independent of the global
    numpy state, and point ``n`` does not depend on how many values earlier points drew.
    Never exhausted: bound the sweep with ``num_samples``, a time budget or a target.
    """

    def __init__(self, space: SearchSpace, *, seed: int | None = None, metric: str, mode: Mode, **options: Any) -> None:
        super().__init__(space, seed=seed, metric=metric, mode=mode, **options)
        entropy = np.random.SeedSequence(seed).entropy
        assert isinstance(entropy, int), "the entropy of an int seed, or of None, is an int"
        self._entropy = entropy
        self._number = 0

    def ask(self) -> dict[str, Any]:
        rng = np.random.default_rng([self._entropy, self._number])
        self._number += 1
        return self.space.walk(lambda path, distribution: distribution.sample(rng))
