"""sweepnet: plugin-based distributed hyperparameter sweeps for small numpy neural networks.

Plugin authors mark their hook implementations with :data:`hookimpl`::

    from sweepnet import hookimpl

    @hookimpl
    def sweepnet_register_layers(registry):
        registry.add("gelu", Gelu)

:func:`load_model` loads a model a sweep saved (``sweepnet.load_model("quickstart")``, its best)
to predict from raw inputs; see :mod:`sweepnet.predictor`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pluggy

__all__ = ["__version__", "hookimpl", "load_model"]

try:
    __version__ = version("sweepnet")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

hookimpl = pluggy.HookimplMarker("sweepnet")


def __getattr__(name: str) -> Any:
    # load_model comes with numpy, the plugins and the data code: only load them when asked for,
    # so that importing sweepnet (every Ray worker does) stays cheap.
    if name == "load_model":
        from sweepnet.predictor import load_model

        return load_model
    raise AttributeError(f"module 'sweepnet' has no attribute {name!r}")
