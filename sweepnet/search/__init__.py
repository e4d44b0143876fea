"""Search spaces, searchers and pruners.

A sweep config is parsed into a :class:`SearchSpace`; a :class:`Searcher` proposes points of it
(``ask``) and learns from results (``tell``); a :class:`Pruner` stops unpromising trials from
their per-epoch reports. Built-ins are registered as plugins by ``sweepnet.plugins.searchers``
(``grid``, ``random``, ``tpe``) and ``sweepnet.plugins.pruners`` (``none``, ``median``,
``asha``, ``hyperband``).
"""

from __future__ import annotations

from sweepnet.search.asha import ASHAPruner
from sweepnet.search.distributions import Categorical, Distribution, Float, Int
from sweepnet.search.grid import GridSearcher, grid_points
from sweepnet.search.hyperband import HyperbandPruner
from sweepnet.search.median import MedianPruner
from sweepnet.search.pruner import NoPruner, Pruner
from sweepnet.search.random_search import RandomSearcher
from sweepnet.search.searcher import MAX_TRIALS, Mode, Searcher
from sweepnet.search.space import SPACE_KEYWORDS, SearchSpace, Suggest
from sweepnet.search.stopping import StopCriteria
from sweepnet.search.tpe import TPESearcher

__all__ = [
    "MAX_TRIALS",
    "SPACE_KEYWORDS",
    "ASHAPruner",
    "Categorical",
    "Distribution",
    "Float",
    "GridSearcher",
    "HyperbandPruner",
    "Int",
    "MedianPruner",
    "Mode",
    "NoPruner",
    "Pruner",
    "RandomSearcher",
    "SearchSpace",
    "Searcher",
    "StopCriteria",
    "Suggest",
    "TPESearcher",
    "grid_points",
]
