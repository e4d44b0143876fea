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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy

    from sweepnet.predictor import load_model

    __version__: str
    hookimpl: pluggy.HookimplMarker

__all__ = ["__version__", "hookimpl", "load_model"]


def __getattr__(name: str) -> Any:
    # All three are made on first use: importing importlib.metadata and pluggy takes about 70 ms,
    # which every `sweepnet` command would otherwise pay before it can even handle a Ctrl-C, and
    # load_model comes with numpy, the plugins and the data code, which every Ray worker imports
    # sweepnet without needing.
    value: object  # the version string, the hookimpl marker or the load_model function
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("sweepnet")
        except PackageNotFoundError:  # running from a source tree that was never installed
            value = "0+unknown"
    elif name == "hookimpl":
        import pluggy

        value = pluggy.HookimplMarker("sweepnet")
    elif name == "load_model":
        from sweepnet.predictor import load_model as value
    else:
        raise AttributeError(f"module 'sweepnet' has no attribute {name!r}")
    globals()[name] = value
    return value
