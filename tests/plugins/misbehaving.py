"""Misbehaving layers and an optimizer, for the tests of the checks that catch them.

``tests/test_conformance.py`` installs this file as a plugin module; ``tests/plugins/test_sequential.py``
registers its classes directly.
"""

from __future__ import annotations

import numpy as np

from sweepnet.plugin import Layer, hookimpl


class Double(Layer):
    """2 x: a layer with nothing wrong."""

    def forward(self, x, params, mode):
        return 2 * x, None

    def backward(self, dout, cache):
        return 2 * dout, {}


class BadDx(Layer):
    """Its dx misses the last feature."""

    def forward(self, x, params, mode):
        return 2 * x, None

    def backward(self, dout, cache):
        return 2 * dout[..., :-1], {}


class Cube(Layer):
    """x**3 with the derivative 2 x**2."""

    def forward(self, x, params, mode):
        return x**3, x

    def backward(self, dout, cache):
        return dout * 2 * cache**2, {}


class Truncate(Layer):
    """Keeps the first 7 features: right at the kit's example shape (7,), wrong at any other."""

    example_shapes = ((7,),)

    def forward(self, x, params, mode):
        return x[:, :7].copy(), x.shape

    def backward(self, dout, cache):
        dx = np.zeros(cache, dtype=dout.dtype)
        dx[:, :7] = dout
        return dx, {}


class Log(Layer):
    """log(x): NaN for negative inputs."""

    def forward(self, x, params, mode):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(x), x

    def backward(self, dout, cache):
        return dout / cache, {}


def uphill(w, dw, config=None):
    """Steps the wrong way."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w + config["learning_rate"] * dw, config


LAYERS = {"double": Double, "bad_dx": BadDx, "cube": Cube, "truncate": Truncate, "log": Log}


@hookimpl
def sweepnet_register_layers(registry):
    for name, cls in LAYERS.items():
        registry.add(name, cls)


@hookimpl
def sweepnet_register_optimizers(registry):
    registry.add("uphill", uphill)
