"""Built-in searcher plugins: ``grid``, ``random`` and ``tpe``."""

from __future__ import annotations

from sweepnet import hookimpl
from sweepnet.registry import Registry
from sweepnet.search import GridSearcher, RandomSearcher, TPESearcher

__all__ = ["sweepnet_register_searchers"]


@hookimpl
def sweepnet_register_searchers(registry: Registry) -> None:
    """Register the searchers of :mod:`sweepnet.search`."""
    registry.add("grid", GridSearcher)
    registry.add("random", RandomSearcher)
    registry.add("tpe", TPESearcher)
