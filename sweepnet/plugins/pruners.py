"""Built-in pruner plugins: ``none``, ``median``, ``asha`` and ``hyperband``."""

from __future__ import annotations

from sweepnet import hookimpl
from sweepnet.registry import Registry
from sweepnet.search import ASHAPruner, HyperbandPruner, MedianPruner, NoPruner

__all__ = ["sweepnet_register_pruners"]


@hookimpl
def sweepnet_register_pruners(registry: Registry) -> None:
    """Register the pruners of :mod:`sweepnet.search`."""
    registry.add("none", NoPruner)
    registry.add("median", MedianPruner)
    registry.add("asha", ASHAPruner)
    registry.add("hyperband", HyperbandPruner)
