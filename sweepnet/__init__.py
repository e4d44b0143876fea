"""sweepnet: plugin-based distributed hyperparameter sweeps for small numpy neural networks.

Plugin authors mark their hook implementations with :data:`hookimpl`::

    from sweepnet import hookimpl

    @hookimpl
    def sweepnet_register_layers(registry):
        registry.add("gelu", Gelu)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

__all__ = ["__version__", "hookimpl"]

try:
    __version__ = version("sweepnet")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

hookimpl = pluggy.HookimplMarker("sweepnet")
