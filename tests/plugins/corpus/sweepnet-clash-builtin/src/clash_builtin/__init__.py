"""Registers `leaky_relu`, a name sweepnet already has, and `clash_ok`, a name of its own."""

import numpy as np

from sweepnet.plugin import Layer, hookimpl


class LeakyRelu(Layer):
    """A second leaky ReLU, with slope 0.2."""

    def forward(self, x, params, mode):
        return np.where(x > 0, x, 0.2 * x), x

    def backward(self, dout, cache):
        return dout * np.where(cache > 0, 1.0, 0.2).astype(dout.dtype), {}


class Identity(Layer):
    """Passes its input through."""

    def forward(self, x, params, mode):
        return x.copy(), None

    def backward(self, dout, cache):
        return dout, {}


@hookimpl
def sweepnet_register_layers(registry):
    registry.add("leaky_relu", LeakyRelu)
    registry.add("clash_ok", Identity)
