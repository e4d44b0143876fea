"""The hook implementations sweepnet calls; named by the ``sweepnet`` entry point in pyproject.toml."""

from __future__ import annotations

from sweepnet.plugin import Registry, hookimpl
from sweepnet_extras.layers import Gelu, Silu
from sweepnet_extras.optim import AdamWOptions, adamw
from sweepnet_extras.spiral import Spiral

__all__ = ["sweepnet_register_datasets", "sweepnet_register_layers", "sweepnet_register_optimizers"]


@hookimpl
def sweepnet_register_layers(registry: Registry) -> None:
    """Add the ``gelu`` and ``silu`` layers."""
    registry.add("gelu", Gelu)
    registry.add("silu", Silu)


@hookimpl
def sweepnet_register_optimizers(registry: Registry) -> None:
    """Add the ``adamw`` update rule."""
    registry.add("adamw", adamw, options=AdamWOptions)


@hookimpl
def sweepnet_register_datasets(registry: Registry) -> None:
    """Add the ``spiral`` data set."""
    registry.add("spiral", Spiral)
