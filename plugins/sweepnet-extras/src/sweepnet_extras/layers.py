"""GELU and SiLU activation layers.

Both are elementwise, so they keep the input shape and have no parameters: only ``forward`` and
``backward`` are needed, the :class:`~sweepnet.layer.Layer` base class does the shape inference.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from sweepnet.core.layers import sigmoid_forward
from sweepnet.plugin import Layer, Mode, Params, PluginOptions

__all__ = ["Gelu", "Silu"]

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_CUBIC = 0.044715  # the tanh approximation's cubic coefficient (Hendrycks & Gimpel, 2016)


class Gelu(Layer):
    """Gaussian error linear unit x * Phi(x) (exact, or the tanh approximation)."""

    class Options(PluginOptions):
        approximate: Literal["none", "tanh"] = "none"

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        """``out = x * Phi(x)`` for ``x`` of any shape ``(N, ...)``; the cache is ``x``."""
        if self.options.approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + _TANH_CUBIC * x**3))), x
        return 0.5 * x * (1 + _erf(x * _INV_SQRT_2)), x

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        """``dx = dout * d/dx [x * Phi(x)]``, the shape of ``x``."""
        x = cache
        if self.options.approximate == "tanh":
            t = np.tanh(_SQRT_2_OVER_PI * (x + _TANH_CUBIC * x**3))
            slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * _TANH_CUBIC * x * x)
        else:
            slope = 0.5 * (1 + _erf(x * _INV_SQRT_2)) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return dout * slope, {}


class Silu(Layer):
    """Sigmoid linear unit (swish) x * sigmoid(x)."""

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        """``out = x * sigmoid(x)`` for ``x`` of any shape; the cache is ``(x, sigmoid(x))``."""
        sigmoid, _ = sigmoid_forward(x)
        return x * sigmoid, (x, sigmoid)

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        """``dx = dout * sigmoid(x) * (1 + x * (1 - sigmoid(x)))``."""
        x, sigmoid = cache
        return dout * sigmoid * (1 + x * (1 - sigmoid)), {}


# scipy.special takes ~0.4 s to import: only on first use, not in every process that loads plugins.
def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x)
