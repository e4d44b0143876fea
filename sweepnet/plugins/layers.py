"""Built-in layer plugins: thin adapters over the classic kernels of :mod:`sweepnet.core`.

Each class adds shape inference and parameter initialisation to a ``*_forward`` / ``*_backward``
pair; conv and max_pool use the fast (Cython) kernels. ``affine`` flattens its input exactly like
the classic ``affine_forward``, so it may follow a conv or pool layer without a ``flatten``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt

from sweepnet import hookimpl
from sweepnet.core import layers as core
from sweepnet.core.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from sweepnet.layer import Layer, Mode, Params, Shape, ShapeError, expect_ndim
from sweepnet.registry import Registry

__all__ = [
    "Affine",
    "BatchNorm",
    "Conv",
    "Dropout",
    "Flatten",
    "LayerNorm",
    "LeakyRelu",
    "MaxPool",
    "Relu",
    "Sigmoid",
    "SpatialBatchNorm",
    "SpatialGroupNorm",
    "Tanh",
    "WeightScale",
    "init_weights",
    "sweepnet_register_layers",
]

WeightScale = PositiveFloat | Literal["he"]
"""Standard deviation of the initial weights, or ``"he"`` for ``sqrt(2 / fan_in)``."""

_DType = np.dtype | type
_Eps = Annotated[float, Field(gt=0)]
_Momentum = Annotated[float, Field(ge=0, le=1)]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


def init_weights(
    rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, scale: WeightScale, dtype: _DType
) -> np.ndarray:
    """Normal initial weights of standard deviation ``scale`` (``sqrt(2 / fan_in)`` for ``"he"``).

    Parameters
    ----------
    rng : generator to draw from.
    shape : shape of the weight array, e.g. ``(D, M)`` or ``(F, C, K, K)``.
    fan_in : inputs feeding each output unit, e.g. ``D`` or ``C * K * K``.
    scale : a positive float or ``"he"``.
    dtype : dtype of the result.
    """
    std = math.sqrt(2 / fan_in) if scale == "he" else scale
    return (std * rng.standard_normal(shape)).astype(dtype)


# --------------------------------------------------------------------------- affine and reshaping


class Affine(Layer):
    """Fully connected layer out = x.reshape(N, D) @ W + b; flattens image inputs.

    ``x: (N, d_1, ..., d_k)`` -> ``out: (N, units)``; ``W: (D, units)``, ``b: (units,)``.
    """

    class Options(_Options):
        units: PositiveInt
        weight_scale: WeightScale = "he"

    options: Options

    regularized = ("W",)
    example_options = {"units": 4}
    example_shapes = ((5,), (2, 3, 3))

    def init_params(self, in_shape: Shape, rng: np.random.Generator, dtype: _DType) -> tuple[Params, Shape]:
        fan_in, units = math.prod(in_shape), self.options.units
        weights = init_weights(rng, (fan_in, units), fan_in, self.options.weight_scale, dtype)
        return {"W": weights, "b": np.zeros(units, dtype=dtype)}, (units,)

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        return core.affine_forward(x, params["W"], params["b"])

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        dx, dw, db = core.affine_backward(dout, cache)
        return dx, {"W": dw, "b": db}


class Flatten(Layer):
    """Reshape each sample to one dimension: (N, d_1, ..., d_k) -> (N, d_1 * ... * d_k)."""

    def init_params(self, in_shape: Shape, rng: np.random.Generator, dtype: _DType) -> tuple[Params, Shape]:
        return {}, (math.prod(in_shape),)

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        return dout.reshape(cache), {}


# --------------------------------------------------------------------------- activations


class Relu(Layer):
    """Rectified linear unit max(0, x)."""

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        return core.relu_forward(x)

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        return core.relu_backward(dout, cache), {}


class LeakyRelu(Layer):
    """Leaky ReLU: x where positive, alpha * x elsewhere."""

    class Options(_Options):
        alpha: Annotated[float, Field(ge=0)] = 0.01

    options: Options

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        return core.leaky_relu_forward(x, self.options.alpha)

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        return core.leaky_relu_backward(dout, cache), {}


class Sigmoid(Layer):
    """Logistic sigmoid 1 / (1 + exp(-x))."""

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        return core.sigmoid_forward(x)

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        return core.sigmoid_backward(dout, cache), {}


class Tanh(Layer):
    """Hyperbolic tangent."""

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        return core.tanh_forward(x)

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        return core.tanh_backward(dout, cache), {}


class Dropout(Layer):
    """Inverted dropout keeping each unit with probability keep_ratio; identity at test time."""

    class Options(_Options):
        keep_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
        seed: int | None = Field(None, description="draw the same mask on every call (gradient checks)")

    options: Options

    example_options = {"seed": 0}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._rng: np.random.Generator | None = None

    def init_params(self, in_shape: Shape, rng: np.random.Generator, dtype: _DType) -> tuple[Params, Shape]:
        self._rng = rng.spawn(1)[0]  # masks follow the model's seed, not the global numpy state
        return {}, tuple(in_shape)

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        options = self.options
        return core.dropout_forward(x, {"mode": mode, "p": options.keep_ratio, "seed": options.seed, "rng": self._rng})

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        return core.dropout_backward(dout, cache), {}


# --------------------------------------------------------------------------- normalisation


class _NormOptions(_Options):
    eps: _Eps = 1e-5


class _BatchNormOptions(_NormOptions):
    momentum: _Momentum = 0.9


def _scale_shift(size: int, dtype: _DType) -> dict[str, np.ndarray]:
    """``gamma`` ones and ``beta`` zeros of shape ``(size,)``: normalisation starts as the identity."""
    return {"gamma": np.ones(size, dtype=dtype), "beta": np.zeros(size, dtype=dtype)}


class BatchNorm(Layer):
    """Batch normalisation of each feature over the minibatch (running statistics at test time).

    ``x: (N, D)`` -> ``out: (N, D)``; ``gamma, beta: (D,)``. ``bn_param`` holds the options and,
    once it trained, the running statistics that test mode normalises with (its :meth:`state`).
    """

    Options = _BatchNormOptions
    example_shapes: ClassVar[tuple[tuple[int, ...], ...]] = ((5,), (8,))  # the subclass checks (C, H, W)
    _STATISTICS = ("running_mean", "running_var")
    _INPUT = (1, "(D,)", "use spatial_batchnorm for (C, H, W) inputs")  # ndim, layout, hint
    _forward = staticmethod(core.batchnorm_forward)
    _backward = staticmethod(core.batchnorm_backward_alt)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.bn_param: dict[str, Any] = self.options.model_dump()  # the kernel adds running statistics

    def init_params(self, in_shape: Shape, rng: np.random.Generator, dtype: _DType) -> tuple[Params, Shape]:
        ndim, layout, hint = self._INPUT
        expect_ndim(in_shape, ndim, layout, hint=hint)
        self.bn_param = self.options.model_dump()  # fresh parameters, fresh running statistics
        return _scale_shift(in_shape[0], dtype), tuple(in_shape)

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        self.bn_param["mode"] = mode
        return self._forward(x, params["gamma"], params["beta"], self.bn_param)

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        dx, dgamma, dbeta = self._backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}

    def state(self) -> dict[str, np.ndarray]:
        """``running_mean`` and ``running_var``, ``(D,)`` or ``(C,)`` (``{}`` before any training step)."""
        return {key: self.bn_param[key].copy() for key in self._STATISTICS if key in self.bn_param}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        unknown = sorted(set(state) - set(self._STATISTICS))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no state {', '.join(unknown)}")
        for key in self._STATISTICS:
            self.bn_param.pop(key, None)
        self.bn_param.update({key: np.array(value) for key, value in state.items()})


class LayerNorm(Layer):
    """Layer normalisation of each sample over its features.

    ``x: (N, D)`` -> ``out: (N, D)``; ``gamma, beta: (D,)``.
    """

    Options = _NormOptions
    options: _NormOptions
    example_shapes = ((5,), (8,))

    def init_params(self, in_shape: Shape, rng: np.random.Generator, dtype: _DType) -> tuple[Params, Shape]:
        expect_ndim(in_shape, 1, "(D,)", hint="add a flatten layer first")
        return _scale_shift(in_shape[0], dtype), tuple(in_shape)

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        return core.layernorm_forward(x, params["gamma"], params["beta"], {"eps": self.options.eps})

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        dx, dgamma, dbeta = core.layernorm_backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}


class SpatialBatchNorm(BatchNorm):
    """Batch normalisation of each channel over the minibatch and both spatial axes.

    The flat form over ``(N * H * W, C)`` rows.

    ``x: (N, C, H, W)`` -> ``out: (N, C, H, W)``; ``gamma, beta: (C,)``.
    """

    example_shapes = ((2, 3, 3), (3, 2, 4))
    _INPUT = (3, "(C, H, W)", "use batchnorm for flat inputs")
    _forward = staticmethod(core.spatial_batchnorm_forward)
    _backward = staticmethod(core.spatial_batchnorm_backward)


class SpatialGroupNorm(Layer):
    """Group normalisation of each sample over groups of consecutive channels.

    ``x: (N, C, H, W)`` -> ``out: (N, C, H, W)``; ``gamma, beta: (C,)``; ``groups`` must divide C.
    """

    class Options(_NormOptions):
        groups: PositiveInt

    options: Options

    example_options = {"groups": 2}
    example_shapes = ((4, 2, 3), (6, 3, 2))

    def init_params(self, in_shape: Shape, rng: np.random.Generator, dtype: _DType) -> tuple[Params, Shape]:
        expect_ndim(in_shape, 3, "(C, H, W)")
        if in_shape[0] % self.options.groups:
            raise ShapeError(f"{self.options.groups} groups do not divide the {in_shape[0]} channels of the input")
        return _scale_shift(in_shape[0], dtype), tuple(in_shape)

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        gn_param = {"eps": self.options.eps}
        return core.spatial_groupnorm_forward(x, params["gamma"], params["beta"], self.options.groups, gn_param)

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        dx, dgamma, dbeta = core.spatial_groupnorm_backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}


# --------------------------------------------------------------------------- convolution and pooling


def _window_out(size: int, window: int, pad: int, stride: int) -> int:
    """Number of window positions along one axis (the classic ``1 + (H + 2 * pad - HH) // stride``)."""
    return 1 + (size + 2 * pad - window) // stride


class Conv(Layer):
    """Convolution with zero padding (fast im2col kernels): (C, H, W) -> (filters, H', W').

    ``x: (N, C, H, W)`` -> ``out: (N, filters, H', W')`` with ``H' = 1 + (H + 2 * pad - kernel) // stride``;
    ``W: (filters, C, kernel, kernel)``, ``b: (filters,)``.
    """

    class Options(_Options):
        filters: PositiveInt
        kernel: PositiveInt
        stride: PositiveInt = 1
        pad: NonNegativeInt = 0
        weight_scale: WeightScale = "he"

    options: Options

    regularized = ("W",)
    example_options = {"filters": 2, "kernel": 3, "pad": 1}
    example_shapes = ((1, 4, 4), (2, 5, 3))

    def init_params(self, in_shape: Shape, rng: np.random.Generator, dtype: _DType) -> tuple[Params, Shape]:
        expect_ndim(in_shape, 3, "(C, H, W)")
        o = self.options
        channels, height, width = in_shape
        if min(height, width) + 2 * o.pad < o.kernel:
            raise ShapeError(
                f"kernel {o.kernel}x{o.kernel} with pad {o.pad} is larger than its input {channels}x{height}x{width}"
            )
        fan_in = channels * o.kernel * o.kernel
        weights = init_weights(rng, (o.filters, channels, o.kernel, o.kernel), fan_in, o.weight_scale, dtype)
        out_h, out_w = (_window_out(size, o.kernel, o.pad, o.stride) for size in (height, width))
        return {"W": weights, "b": np.zeros(o.filters, dtype=dtype)}, (o.filters, out_h, out_w)

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        return conv_forward_fast(x, params["W"], params["b"], {"stride": self.options.stride, "pad": self.options.pad})

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        dx, dw, db = conv_backward_fast(dout, cache)
        return dx, {"W": dw, "b": db}


class MaxPool(Layer):
    """Max pooling over size x size windows (fast kernels): (C, H, W) -> (C, H', W')."""

    class Options(_Options):
        size: PositiveInt = 2
        stride: PositiveInt | None = Field(None, description="defaults to size (non-overlapping windows)")

    options: Options

    example_shapes = ((1, 4, 4), (2, 5, 3))

    def init_params(self, in_shape: Shape, rng: np.random.Generator, dtype: _DType) -> tuple[Params, Shape]:
        expect_ndim(in_shape, 3, "(C, H, W)")
        channels, height, width = in_shape
        size, stride = self.options.size, self._stride
        if min(height, width) < size:
            raise ShapeError(f"pool window {size}x{size} is larger than its input {channels}x{height}x{width}")
        return {}, (channels, _window_out(height, size, 0, stride), _window_out(width, size, 0, stride))

    @property
    def _stride(self) -> int:
        return self.options.stride or self.options.size

    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        size = self.options.size
        return max_pool_forward_fast(x, {"pool_height": size, "pool_width": size, "stride": self._stride})

    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        return max_pool_backward_fast(dout, cache), {}


_LAYERS: dict[str, type[Layer]] = {
    "affine": Affine,
    "flatten": Flatten,
    "relu": Relu,
    "leaky_relu": LeakyRelu,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "dropout": Dropout,
    "batchnorm": BatchNorm,
    "layernorm": LayerNorm,
    "spatial_batchnorm": SpatialBatchNorm,
    "spatial_groupnorm": SpatialGroupNorm,
    "conv": Conv,
    "max_pool": MaxPool,
}


@hookimpl
def sweepnet_register_layers(registry: Registry) -> None:
    """Register every built-in layer."""
    for name, layer in _LAYERS.items():
        registry.add(name, layer)
