"""Layers that break the shape contract: one in forward, one in backward."""

from sweepnet.plugin import Layer, hookimpl


class DropsAColumn(Layer):
    """Its forward loses the last feature that init_params promised."""

    def forward(self, x, params, mode):
        return x[..., :-1].copy(), x.shape

    def backward(self, dout, cache):
        return dout, {}


class BadDx(Layer):
    """Its backward returns dx with the last feature missing."""

    def forward(self, x, params, mode):
        return 2 * x, None

    def backward(self, dout, cache):
        return 2 * dout[..., :-1], {}


@hookimpl
def sweepnet_register_layers(registry):
    registry.add("drops_a_column", DropsAColumn)
    registry.add("bad_dx", BadDx)
