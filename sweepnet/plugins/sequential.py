"""The ``sequential`` model: a stack of layer plugins described in config, trained by the Solver.

In a sweep file::

    model:
      name: sequential
      layers:
        - {name: conv, filters: 16, kernel: 3, pad: 1}
        - relu
        - {name: max_pool, size: 2}
        - {name: affine, units: 100}
        - relu
        - {name: affine, units: 10}
      loss: softmax
      reg: 1.0e-3
      weight_scale: he

Building the model resolves every layer by name in the layer registry (so third-party layers work
the same as built-in ones), validates its options and infers every shape; a stack that does not
fit the data fails then, before any training, with a ConfigError naming ``model.layers[i]``.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat

from sweepnet.conformance import FirstStep
from sweepnet.core.layers import mse_loss, softmax_loss, svm_loss
from sweepnet.data import DatasetMeta
from sweepnet.errors import ConfigError
from sweepnet.layer import Layer, Mode, Params, Shape, ShapeError
from sweepnet.model import LossName, ModelPlugin, num_outputs, resolve_loss
from sweepnet.pluginmanager import get_registries
from sweepnet.plugins.layers import WeightScale
from sweepnet.registry import Component, Registry, UnknownComponentError

__all__ = ["MAX_SAMPLE_VALUES", "SequentialNet", "SequentialPlugin"]

MAX_SAMPLE_VALUES = 2**22
"""Most values one layer of a ``sequential`` model may output per sample (4,194,304: a
64 x 256 x 256 feature map); more would take gigabytes per minibatch."""
_LOSSES = {"softmax": softmax_loss, "svm": svm_loss, "mse": mse_loss}
_FIELD = "model.layers"


class SequentialNet:
    """A feed-forward stack of layer plugins with the classic model interface.

    Parameter names are ``"<index>.<layer name>.<param>"``, e.g. ``"0.conv.W"``; the layers' state
    (:meth:`state`, e.g. batchnorm's running statistics) is named the same way. The first call of
    :meth:`loss` in each mode checks every layer's output and gradient shapes and values
    (:class:`~sweepnet.conformance.FirstStep`), naming ``model.layers[i]`` and its plugin.

    Attributes
    ----------
    layers : ``(name, layer, out_shape)`` per layer, in order.
    params : name -> array, all in ``dtype``.
    reg : L2 strength, applied to each layer's ``regularized`` parameters.
    loss_name : ``"softmax"``, ``"svm"`` or ``"mse"`` (the Solver treats mse as regression).
    dtype : dtype of the parameters and of the computation.
    where : per layer, how errors name it (``"model.layers[1]: layer 'gelu' of plugin ..."``).
    """

    def __init__(
        self,
        layers: list[tuple[str, Layer, Shape]],
        layer_params: list[Params],
        *,
        reg: float,
        loss_name: str,
        dtype: np.dtype | type,
        where: list[str] | None = None,
    ) -> None:
        self.layers = layers
        self.where = where or [f"{_FIELD}[{index}]: layer {name!r}" for index, (name, _, _) in enumerate(layers)]
        self._unchecked = {"train", "test"}  # modes whose first step has not been checked yet
        self.reg = reg
        self.loss_name = loss_name
        self.dtype = np.dtype(dtype)
        # Per layer: its own parameter name -> the model-wide key, e.g. "W" -> "0.conv.W".
        self._keys = [
            {short: f"{index}.{name}.{short}" for short in own}
            for index, ((name, _, _), own) in enumerate(zip(layers, layer_params, strict=True))
        ]
        self.params: Params = {
            keys[short]: value
            for keys, own in zip(self._keys, layer_params, strict=True)
            for short, value in own.items()
        }

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray | tuple[float, Params]:
        """Scores, or loss and gradients, for a minibatch (train mode exactly when ``y`` is given).

        Parameters
        ----------
        X : (N, *input_shape) inputs; cast to ``dtype``.
        y : (N,) labels or regression targets, or None.

        Returns
        -------
        scores : (N, C) when ``y`` is None; otherwise
        loss : float, data loss plus ``0.5 * reg * sum(W**2)`` over the regularized parameters, and
        grads : dict like ``params``.
        """
        out = X.astype(self.dtype, copy=False)
        mode: Mode = "test" if y is None else "train"
        check = FirstStep(self.where) if mode in self._unchecked else None
        caches, input_shapes = [], []
        for index, ((_, layer, shape), keys) in enumerate(zip(self.layers, self._keys, strict=True)):
            x, params = out, self._own_params(keys)
            out, cache = layer.forward(x, params, mode)
            if check:
                check.forward(index, x, params, out, shape)
            caches.append(cache)
            input_shapes.append(x.shape)
        if y is None:
            self._unchecked.discard(mode)
            return out
        loss, dout = _LOSSES[self.loss_name](out, y)
        grads: Params = {}
        for index in reversed(range(len(self.layers))):
            keys = self._keys[index]
            dx, layer_grads = self.layers[index][1].backward(dout, caches[index])
            if check:
                check.backward(index, dout, input_shapes[index], dx, layer_grads, self._own_params(keys))
            dout = dx
            grads.update({keys[short]: grad for short, grad in layer_grads.items()})
        self._unchecked.discard(mode)
        if self.reg:
            for (_, layer, _), keys in zip(self.layers, self._keys, strict=True):
                for short in layer.regularized:
                    w = self.params[keys[short]]
                    loss += 0.5 * self.reg * float(np.vdot(w, w))
                    grads[keys[short]] = grads[keys[short]] + self.reg * w
        return loss, grads

    def _own_params(self, keys: dict[str, str]) -> Params:
        """One layer's parameters by its own names (``"W"``), from the model-wide keys."""
        return {short: self.params[key] for short, key in keys.items()}

    def state(self) -> Params:
        """Every layer's :meth:`~sweepnet.layer.Layer.state`, keyed like ``params``: ``"1.batchnorm.running_mean"``."""
        return {
            f"{index}.{name}.{key}": value
            for index, (name, layer, _) in enumerate(self.layers)
            for key, value in layer.state().items()
        }

    def load_state(self, state: Params) -> None:
        """Hand each layer its part of ``state`` (as :meth:`state` returned it); layers absent from it get ``{}``.

        Raises
        ------
        ValueError
            for a name that is no layer's state.
        """
        prefixes = [f"{index}.{name}." for index, (name, _, _) in enumerate(self.layers)]
        parts: list[Params] = [{} for _ in self.layers]
        for key, value in state.items():
            index = key.split(".", 1)[0]
            if not index.isdigit() or int(index) >= len(self.layers) or not key.startswith(prefixes[int(index)]):
                raise ValueError(f"the sequential model has no layer state {key!r}")
            parts[int(index)][key.removeprefix(prefixes[int(index)])] = value
        for (_, layer, _), part in zip(self.layers, parts, strict=True):
            layer.load_state(part)

    def __repr__(self) -> str:
        rows = [f"  {index}: {layer!r} -> {shape}" for index, (_, layer, shape) in enumerate(self.layers)]
        return "SequentialNet(\n" + "\n".join(rows) + f"\n  loss={self.loss_name}, reg={self.reg})"


class SequentialPlugin(ModelPlugin["SequentialPlugin.Options"]):
    """Any stack of layer plugins, listed in config (loss softmax/svm, or mse for regression)."""

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        layers: list[str | dict[str, Any]] = Field(min_length=1)
        loss: LossName | None = None
        reg: NonNegativeFloat = 0.0
        weight_scale: WeightScale = Field("he", description="default init scale of every layer with weights")

    trainer = "solver"

    def __init__(self, layer_registry: Registry | None = None) -> None:
        """``layer_registry``: where layer names are resolved; the process-wide registry by default."""
        self._layer_registry = layer_registry

    def count_params(self, options: SequentialPlugin.Options, meta: DatasetMeta) -> int | None:
        """The parameters of every layer, found by initialising each with a generator that draws
        arrays without data (:class:`_ShapeOnlyGenerator`); None when a layer cannot be counted so.

        Raises
        ------
        ConfigError
            naming ``model.layers[i]`` for a layer that cannot take its input shape, whose
            parameters numpy cannot even reserve, or whose output holds more than
            :data:`MAX_SAMPLE_VALUES` values per sample.
        """
        registry = self._layer_registry or get_registries().layers
        # It has the drawing methods of np.random.Generator that layers use, not the class.
        generator = cast(np.random.Generator, _ShapeOnlyGenerator())
        shape, count = tuple(meta.input_shape), 0
        for index, spec in enumerate(options.layers):
            component, layer = _make_layer(registry, spec, index, options.weight_scale)
            name = component.name
            try:
                params, shape = layer.init_params(shape, generator, np.float32)
            except ShapeError as err:
                raise ConfigError(f"{_FIELD}[{index}]", f"{name} {err}") from None
            except (MemoryError, ValueError) as err:  # numpy refused even a lazy np.zeros((units,))
                reason = str(err) or "out of memory"
                raise ConfigError(f"{_FIELD}[{index}]", f"{name} cannot be made for inputs {shape}: {reason}") from None
            except Exception:  # a third-party layer doing more than drawing weights: not countable
                return None
            count += sum(math.prod(np.shape(value)) for value in params.values())
            values = math.prod(shape)
            if values > MAX_SAMPLE_VALUES:
                raise ConfigError(
                    f"{_FIELD}[{index}]",
                    f"{name} outputs {tuple(shape)} per sample, {values:,} values; at most "
                    f"{MAX_SAMPLE_VALUES:,} are allowed",
                )
        return count

    def _build(
        self, options: SequentialPlugin.Options, meta: DatasetMeta, rng: np.random.Generator, dtype: np.dtype
    ) -> SequentialNet:
        """Resolve, validate and initialise every layer for inputs of ``meta.input_shape``.

        Raises
        ------
        ConfigError
            naming ``model.layers[i]`` (or ``model.layers[i].<key>``) for an unknown layer, a bad
            option, a layer that cannot take the shape it receives, or a last layer whose output
            does not match the data set's classes / targets.
        """
        loss_name = resolve_loss(options.loss, meta)
        registry = self._layer_registry or get_registries().layers
        layers: list[tuple[str, Layer, Shape]] = []
        layer_params: list[Params] = []
        where: list[str] = []
        shape = tuple(meta.input_shape)
        for index, spec in enumerate(options.layers):
            component, layer = _make_layer(registry, spec, index, options.weight_scale)
            name = component.name
            try:
                params, shape = layer.init_params(shape, rng, dtype)
            except ShapeError as err:
                raise ConfigError(f"{_FIELD}[{index}]", f"{name} {err}") from None
            layers.append((name, layer, tuple(shape)))
            layer_params.append(params)
            where.append(f"{_FIELD}[{index}]: {component.label}")
        _check_output(shape, meta, len(layers) - 1, layers[-1][0])
        return SequentialNet(layers, layer_params, reg=options.reg, loss_name=loss_name, dtype=dtype, where=where)


class _ShapeOnly(NDArrayOperatorsMixin):
    """An array without data: arithmetic and ``astype`` keep its shape and allocate nothing."""

    def __init__(self, shape: Shape) -> None:
        if math.prod(shape) > np.iinfo(np.intp).max:
            raise ValueError(f"an array {shape} holds more values than numpy can index")
        self.shape = shape

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        return _ShapeOnly(np.broadcast_shapes(*(np.shape(value) for value in inputs)))

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> _ShapeOnly:
        return self

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError("a shape-only array has no data")  # a layer that needs the values is not counted


class _ShapeOnlyGenerator:
    """The drawing methods of ``np.random.Generator``, returning :class:`_ShapeOnly` arrays.

    Layers draw their initial weights from the generator they are given (``init_weights``), so
    handing them this one counts their parameters without allocating them.
    """

    def standard_normal(self, size: Any = None, *args: Any, **kwargs: Any) -> Any:
        return _drawn(size)

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None) -> Any:
        return _drawn(size)

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None) -> Any:
        return _drawn(size)

    def random(self, size: Any = None, *args: Any, **kwargs: Any) -> Any:
        return _drawn(size)

    def integers(self, low: Any, high: Any = None, size: Any = None, *args: Any, **kwargs: Any) -> Any:
        return 0 if size is None else _ShapeOnly(_shape_of(size))

    def spawn(self, n_children: int) -> list[_ShapeOnlyGenerator]:
        return [self] * n_children


def _drawn(size: Any) -> Any:
    return 0.0 if size is None else _ShapeOnly(_shape_of(size))


def _shape_of(size: Any) -> Shape:
    return (int(size),) if isinstance(size, int | np.integer) else tuple(int(n) for n in size)


def _make_layer(
    registry: Registry, spec: str | dict[str, Any], index: int, weight_scale: WeightScale
) -> tuple[Component, Layer]:
    """Resolve and instantiate the layer of ``model.layers[index]``; returns its component and the layer."""
    field = f"{_FIELD}[{index}]"
    if isinstance(spec, str):
        name, raw = spec, {}
    elif isinstance(spec.get("name"), str):
        raw = {key: value for key, value in spec.items() if key != "name"}
        name = spec["name"]
    else:
        raise ConfigError(f"{field}.name", "missing: write a layer as `relu` or as `{name: affine, units: 10}`")
    try:
        component = registry.component(name)
    except UnknownComponentError as err:
        raise ConfigError(f"{field}.name", str(err)) from None
    if component.options is not None and "weight_scale" in component.options.model_fields:
        raw.setdefault("weight_scale", weight_scale)  # the model-wide init scale, unless the layer sets its own
    component.parse_options(raw, field)
    return component, component.obj(**raw)


def _check_output(shape: Shape, meta: DatasetMeta, index: int, name: str) -> None:
    """Raise :class:`ConfigError` unless the last layer's output ``shape`` fits the data set."""
    size = num_outputs(meta)
    if tuple(shape) != (size,):
        what = f"{size} classes" if meta.task == "classification" else f"{size} regression targets"
        raise ConfigError(
            f"{_FIELD}[{index}]",
            f"the last layer ({name}) outputs {tuple(shape)} but the {what} of {meta.name!r} need ({size},); "
            f"end with {{name: affine, units: {size}}}",
        )
