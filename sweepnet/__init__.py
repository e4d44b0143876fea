"""sweepnet: plugin-based distributed hyperparameter sweeps for small numpy neural networks.

Plugin authors mark their hook implementations with :data:`hookimpl`::

    from sweepnet import hookimpl

    @hookimpl
    def sweepnet_register_layers(registry):
        registry.add("gelu", Gelu)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy

    __version__: str
    hookimpl: pluggy.HookimplMarker

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    # Both are made on first use: importing them (importlib.metadata, pluggy) takes about 70 ms,
    # which every `sweepnet` command would otherwise pay before it can even handle a Ctrl-C.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("sweepnet")
        except PackageNotFoundError:  # running from a source tree that was never installed
            value = "0+unknown"
    elif name == "hookimpl":
        import pluggy

        value = pluggy.HookimplMarker("sweepnet")
    else:
        raise AttributeError(f"module 'sweepnet' has no attribute {name!r}")
    globals()[name] = value
    return value
