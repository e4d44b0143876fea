"""The Layer base class: options, default shape inference, shape errors."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError

from sweepnet.layer import Layer, ShapeError, expect_ndim


class Identity(Layer):
    def forward(self, x, params, mode):
        return x, None

    def backward(self, dout, cache):
        return dout, {}


class Widen(Layer):
    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        factor: PositiveInt = 2

    def forward(self, x, params, mode):
        return np.repeat(x, self.options.factor, axis=1), None

    def backward(self, dout, cache):
        return dout.reshape(dout.shape[0], -1, self.options.factor).sum(axis=2), {}


def test_options_are_validated_into_self_options():
    assert Widen().options.factor == 2
    assert Widen(factor=3).options.factor == 3
    with pytest.raises(ValidationError):
        Widen(factor=0)
    with pytest.raises(ValidationError):
        Widen(facter=3)


def test_a_layer_without_options_rejects_any():
    Identity()
    with pytest.raises(ValidationError):
        Identity(units=3)


def test_default_init_params_has_no_params_and_keeps_the_shape():
    params, out_shape = Identity().init_params((3, 4, 5), np.random.default_rng(0), np.float32)
    assert params == {} and out_shape == (3, 4, 5)


def test_forward_and_backward_must_be_implemented():
    class Incomplete(Layer):
        def forward(self, x, params, mode):
            return x, None

    with pytest.raises(TypeError, match="backward"):
        Incomplete()


def test_repr_shows_the_options():
    assert repr(Widen(factor=3)) == "Widen(factor=3)"
    assert repr(Identity()) == "Identity()"


def test_expect_ndim():
    expect_ndim((3, 8, 8), 3, "(C, H, W)")
    with pytest.raises(ShapeError, match=r"^expects input \(C, H, W\), got \(100,\)$"):
        expect_ndim((100,), 3, "(C, H, W)")
    with pytest.raises(ShapeError, match=r"^expects input \(D,\), got \(2, 3\); flatten first$"):
        expect_ndim((2, 3), 1, "(D,)", hint="flatten first")
    assert issubclass(ShapeError, ValueError)
