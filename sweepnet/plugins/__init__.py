"""The built-in plugins: registered through the same hooks as third-party plugins.

Each module listed in :data:`DEFAULT_PLUGINS` implements ``sweepnet_register_*`` hooks (the
components); the plugin manager registers them, then the MLflow tracker
(:class:`sweepnet.plugins.tracker.Tracker`, lifecycle hooks), before any entry-point plugin.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PLUGINS"]

DEFAULT_PLUGINS: tuple[str, ...] = (
    "sweepnet.plugins.layers",
    "sweepnet.plugins.optimizers",
    "sweepnet.plugins.models",
    "sweepnet.plugins.datasets",
    "sweepnet.plugins.searchers",
    "sweepnet.plugins.pruners",
)
