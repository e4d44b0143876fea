"""Example sweepnet plugins: GELU and SiLU layers, the AdamW optimizer and the 2-D spiral data set.

Installing the package is all it takes: sweepnet discovers it through its ``sweepnet`` entry point,
and a ``sequential`` model can then use ``gelu`` / ``silu`` layers, a solver ``adamw``, and a sweep
the ``spiral`` data set.
"""

from __future__ import annotations

from importlib.metadata import version

from sweepnet_extras.layers import Gelu, Silu
from sweepnet_extras.optim import AdamWOptions, adamw
from sweepnet_extras.spiral import Spiral, SpiralOptions

__all__ = ["AdamWOptions", "Gelu", "Silu", "Spiral", "SpiralOptions", "__version__", "adamw"]

__version__ = version("sweepnet-extras")
