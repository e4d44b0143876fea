"""A layer whose backward is off by a factor."""

from sweepnet.plugin import Layer, hookimpl


class Cube(Layer):
    """x**3 with the derivative 2 x**2 instead of 3 x**2."""

    def forward(self, x, params, mode):
        return x**3, x

    def backward(self, dout, cache):
        return dout * 2 * cache**2, {}


@hookimpl
def sweepnet_register_layers(registry):
    registry.add("bad_gradient", Cube)
