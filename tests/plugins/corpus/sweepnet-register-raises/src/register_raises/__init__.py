"""Registers `halfway`, then its hook raises."""

from sweepnet.plugin import Layer, hookimpl


class Halfway(Layer):
    """Never usable: its plugin's registration fails."""

    def forward(self, x, params, mode):
        return x, None

    def backward(self, dout, cache):
        return dout, {}


@hookimpl
def sweepnet_register_layers(registry):
    registry.add("halfway", Halfway)
    raise RuntimeError("the licence server is unreachable")
