"""Registers `swish`, as sweepnet-clash-b does."""

from scipy.special import expit

from sweepnet.plugin import Layer, hookimpl


class Swish(Layer):
    """x * sigmoid(x), from sweepnet-clash-a."""

    def forward(self, x, params, mode):
        return x * expit(x), x

    def backward(self, dout, cache):
        s = expit(cache)
        return dout * (s + cache * s * (1 - s)), {}


@hookimpl
def sweepnet_register_layers(registry):
    registry.add("swish", Swish)
