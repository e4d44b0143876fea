"""Registers `swish`, as sweepnet-clash-a does."""

import numpy as np

from sweepnet.plugin import Layer, hookimpl


class Swish(Layer):
    """x * sigmoid(x) written with tanh, from sweepnet-clash-b."""

    def forward(self, x, params, mode):
        half = 0.5 * (1 + np.tanh(x / 2))
        return x * half, (x, half)

    def backward(self, dout, cache):
        x, s = cache
        return dout * (s + x * s * (1 - s)), {}


@hookimpl
def sweepnet_register_layers(registry):
    registry.add("swish", Swish)
