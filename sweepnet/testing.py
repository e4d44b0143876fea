"""Conformance kit for plugin authors: call these from your own tests.

Plain functions that raise ``AssertionError`` with a message naming the plugin and the check;
no pytest fixtures needed::

    from sweepnet.testing import check_layer, check_optimizer

    def test_gelu():
        check_layer(Gelu)

    def test_adamw():
        check_optimizer(adamw, {"learning_rate": 1e-2, "weight_decay": 1e-2})

``sweepnet plugins --check`` runs :func:`check_layer` and :func:`check_optimizer` over every
installed layer and optimizer.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweepnet.conformance import describe_nonfinite
from sweepnet.core.gradient_check import eval_numerical_gradient_array, rel_error
from sweepnet.core.optim import UpdateRule
from sweepnet.data import Dataset, DatasetMeta, DatasetPlugin
from sweepnet.layer import Layer, Mode, Params, Shape

__all__ = [
    "check_dataset",
    "check_layer",
    "check_layer_dtype",
    "check_layer_gradients",
    "check_layer_state",
    "check_optimizer",
]


def check_layer(
    layer_cls: type[Layer],
    options: Mapping[str, Any] | None = None,
    *,
    shapes: tuple[Shape, ...] | None = None,
    tolerance: float = 1e-5,
    seed: int = 0,
) -> None:
    """Run every layer check at every input shape: float64 gradients, float32 dtypes and state.

    Parameters
    ----------
    layer_cls : the :class:`~sweepnet.layer.Layer` subclass.
    options : keyword options to build it with; ``layer_cls.example_options`` by default.
        In train mode the layer must be deterministic with them (e.g. a fixed dropout seed).
    shapes : input shapes without the batch dimension; ``layer_cls.example_shapes`` by default.
    tolerance : largest accepted relative error of an analytic gradient.
    seed : seed of the random inputs and parameters.
    """
    for in_shape in shapes or layer_cls.example_shapes:
        check_layer_gradients(layer_cls, in_shape, options, tolerance=tolerance, seed=seed)
        check_layer_dtype(layer_cls, in_shape, options, seed=seed)
        check_layer_state(layer_cls, in_shape, options, seed=seed)


def check_layer_gradients(
    layer_cls: type[Layer],
    in_shape: Shape,
    options: Mapping[str, Any] | None = None,
    *,
    batch_size: int = 3,
    tolerance: float = 1e-5,
    seed: int = 0,
) -> None:
    """Compare ``backward`` with centered-difference gradients of ``forward`` in float64 (train mode).

    Checks that ``forward`` leaves ``x`` alone and returns the shape ``init_params`` promised, that
    ``dx`` has the shape of ``x`` and ``grads`` one array per parameter, shaped like it, all of them
    finite; then ``dx`` and every parameter gradient against the numerical gradient of
    ``sum(forward(x) * dout)``.

    Parameters
    ----------
    layer_cls, options : as for :func:`check_layer`.
    in_shape : shape of one input sample; ``x: (batch_size, *in_shape)``.
    batch_size : number of samples.
    tolerance : largest accepted :func:`~sweepnet.core.gradient_check.rel_error`.
    seed : seed of the random inputs, parameters and upstream gradient.
    """
    what = _describe(layer_cls, options, in_shape)
    rng = np.random.default_rng(seed)
    layer = _build(layer_cls, options)
    params, out_shape = layer.init_params(tuple(in_shape), rng, np.float64)
    x = rng.standard_normal((batch_size, *in_shape))
    out, cache = _forward(layer, x, params, "train", what)
    _expect(out.shape == (batch_size, *out_shape), f"{what}: forward returned {out.shape}, expected (N, *{out_shape})")
    _expect_finite(out, f"{what}: forward returned")
    dout = rng.standard_normal(out.shape)
    dx, grads = layer.backward(dout, cache)
    _expect(dx.shape == x.shape, f"{what}: backward returned dx of shape {dx.shape} for x of shape {x.shape}")
    _expect(set(grads) == set(params), f"{what}: backward returned grads {sorted(grads)} for params {sorted(params)}")
    for name, grad in grads.items():
        shape = params[name].shape
        _expect(grad.shape == shape, f"{what}: grads[{name!r}] has shape {grad.shape}, not {shape}")
    for name, grad in [("dx", dx), *((f"grads[{k!r}]", g) for k, g in grads.items())]:
        _expect_finite(grad, f"{what}: backward returned {name} with")

    def forward(_: np.ndarray) -> np.ndarray:
        return layer.forward(x, params, "train")[0]  # reads x and params, which are perturbed in place

    for name, analytic, wrt in [("dx", dx, x), *((f"grads[{k!r}]", grads[k], params[k]) for k in params)]:
        error = rel_error(analytic, eval_numerical_gradient_array(forward, wrt, dout))
        _expect(
            error <= tolerance,
            f"{what}: {name} does not match the numerical gradient (relative error {error:.1e} > {tolerance:.0e})",
        )


def check_layer_dtype(
    layer_cls: type[Layer],
    in_shape: Shape,
    options: Mapping[str, Any] | None = None,
    *,
    dtype: type = np.float32,
    batch_size: int = 3,
    seed: int = 0,
) -> None:
    """Check that parameters, outputs and gradients keep ``dtype`` in train and test mode, and
    that ``forward`` leaves its input alone (a sweep's data arrays are shared between trials).

    Parameters
    ----------
    layer_cls, options : as for :func:`check_layer`.
    in_shape : shape of one input sample.
    dtype : the floating dtype that must be preserved.
    batch_size : number of samples.
    seed : seed of the random inputs and parameters.
    """
    what = _describe(layer_cls, options, in_shape)
    rng = np.random.default_rng(seed)
    layer = _build(layer_cls, options)
    params, out_shape = layer.init_params(tuple(in_shape), rng, dtype)
    for name, value in params.items():
        _expect(value.dtype == dtype, f"{what}: init_params made {name!r} {value.dtype}, not {np.dtype(dtype)}")
    x: np.ndarray = rng.standard_normal((batch_size, *in_shape)).astype(dtype)
    for mode in ("train", "test"):
        out, cache = _forward(layer, x, params, mode, what)
        _expect(out.dtype == dtype, f"{what}: {mode}-mode forward turned {np.dtype(dtype)} into {out.dtype}")
        _expect(out.shape == (batch_size, *out_shape), f"{what}: {mode}-mode forward returned {out.shape}")
    out, cache = layer.forward(x, params, "train")
    dx, grads = layer.backward(np.ones_like(out), cache)
    for name, grad in [("dx", dx), *((f"grads[{k!r}]", g) for k, g in grads.items())]:
        _expect(grad.dtype == dtype, f"{what}: backward returned {name} as {grad.dtype} for {np.dtype(dtype)} inputs")


def check_layer_state(
    layer_cls: type[Layer],
    in_shape: Shape,
    options: Mapping[str, Any] | None = None,
    *,
    batch_size: int = 3,
    seed: int = 0,
) -> None:
    """Check that :meth:`~sweepnet.layer.Layer.state` holds everything test mode depends on.

    Takes ``state()`` after a train-mode step, trains on more batches, hands the snapshot back with
    ``load_state`` and expects the same test-mode output as when it was taken (what the Solver
    does to restore the best epoch). Also ``load_state(state())`` must be accepted, and ``state()``
    must not share memory with what later steps update.

    Parameters
    ----------
    layer_cls, options : as for :func:`check_layer`.
    in_shape : shape of one input sample.
    batch_size : number of samples.
    seed : seed of the random inputs and parameters.
    """
    what = _describe(layer_cls, options, in_shape)
    rng = np.random.default_rng(seed)
    layer = _build(layer_cls, options)
    params, _ = layer.init_params(tuple(in_shape), rng, np.float64)
    x = rng.standard_normal((batch_size, *in_shape))
    layer.forward(x, params, "train")
    snapshot = layer.state()
    kept = {name: np.array(value) for name, value in snapshot.items()}
    expected = layer.forward(x, params, "test")[0]
    for _ in range(3):
        layer.forward(rng.standard_normal((batch_size, *in_shape)) * 3 + 1, params, "train")
    for name, value in snapshot.items():
        _expect(np.array_equal(value, kept[name]), f"{what}: state()[{name!r}] changed when the layer trained on")
    layer.load_state(snapshot)
    restored = layer.forward(x, params, "test")[0]
    _expect(
        np.array_equal(restored, expected),
        f"{what}: test-mode output differs after load_state(state()): state() misses something test mode reads",
    )


def check_optimizer(
    update: UpdateRule, config: Mapping[str, Any] | None = None, *, steps: int = 100, seed: int = 0
) -> None:
    """Check an update rule ``update(w, dw, config=None) -> (next_w, config)``.

    - with ``config=None`` it fills in its defaults and returns a dict;
    - it descends on a convex quadratic (by 10% in ``steps`` updates), for float32 and float64
      weights of several shapes, keeping their dtype and shape;
    - its state lives in ``config``: ``steps`` updates give the same weights whether or not the
      config was pickled and restored halfway (so a trial's optimizer state can be checkpointed).

    Parameters
    ----------
    update : the update rule.
    config : hyperparameters to run with (``{"learning_rate": 1e-2}`` by default).
    steps : number of updates per run.
    seed : seed of the random quadratics.
    """
    what = f"optimizer {getattr(update, '__name__', update)!r}"
    config = dict(config) if config is not None else {"learning_rate": 1e-2}
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(4)
    next_w, defaults = update(w.copy(), w.copy(), None)
    _expect(isinstance(defaults, dict), f"{what}: update(w, dw, None) returned config {defaults!r}, not a dict")
    _expect(next_w.shape == w.shape, f"{what}: update(w, dw, None) returned weights of shape {next_w.shape}")
    for dtype in (np.float64, np.float32):
        for shape in ((5,), (3, 4)):
            bowl = _Bowl(rng.uniform(0.5, 2.0, shape).astype(dtype), rng.standard_normal(shape).astype(dtype))
            w0 = (bowl.target + rng.standard_normal(shape)).astype(dtype)
            straight, _ = _descend(update, bowl, w0.copy(), copy.deepcopy(config), steps, what)
            _expect(
                bowl(straight) < 0.9 * bowl(w0),
                f"{what}: {steps} steps on a quadratic only took the loss from {bowl(w0):.4g} to {bowl(straight):.4g}",
            )
            halfway, state = _descend(update, bowl, w0.copy(), copy.deepcopy(config), steps // 2, what)
            try:
                state = pickle.loads(pickle.dumps(state))
            except Exception as err:
                raise AssertionError(f"{what}: its config cannot be pickled: {type(err).__name__}: {err}") from None
            resumed, _ = _descend(update, bowl, halfway, state, steps - steps // 2, what)
            _expect(
                np.array_equal(resumed, straight),
                f"{what}: resuming from a pickled config changed the result; keep all state in config",
            )


@dataclass(frozen=True)
class _Bowl:
    """The convex quadratic ``0.5 * sum(curvature * (w - target)**2)``; all arrays of one shape."""

    curvature: np.ndarray
    target: np.ndarray

    def __call__(self, w: np.ndarray) -> float:
        return float(0.5 * np.sum(self.curvature * (w.astype(np.float64) - self.target) ** 2))

    def gradient(self, w: np.ndarray) -> np.ndarray:
        return self.curvature * (w - self.target)


def _descend(
    update: UpdateRule, bowl: _Bowl, w: np.ndarray, config: dict[str, Any], steps: int, what: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Take ``steps`` updates down ``bowl`` from ``w``, checking that dtype and shape are kept."""
    for _ in range(steps):
        w, config = update(w, bowl.gradient(w), config)
        _expect(
            w.dtype == bowl.target.dtype and w.shape == bowl.target.shape,
            f"{what}: {bowl.target.dtype} weights of shape {bowl.target.shape} came back as {w.dtype} {w.shape}",
        )
    return w, config


def check_dataset(
    plugin: DatasetPlugin | type[DatasetPlugin],
    options: Mapping[str, Any] | None = None,
    *,
    data_home: str | Path,
) -> Dataset:
    """Load a data set plugin and check the :class:`~sweepnet.data.Dataset` contract.

    Checks the metadata, that every split has ``X: (N, *meta.input_shape)`` with finite floats
    and ``N`` targets (integer labels in ``[0, num_classes)``, or float regression targets
    ``(N,)`` / ``(N, num_outputs)``), and that the train and validation splits are not empty.

    Parameters
    ----------
    plugin : the :class:`~sweepnet.data.DatasetPlugin` subclass or an instance.
    options : its options (validated by ``plugin.Options``); none by default.
    data_home : directory passed to ``load``.

    Returns
    -------
    The loaded data set, for further checks of your own.
    """
    plugin = plugin() if isinstance(plugin, type) else plugin
    what = f"dataset {type(plugin).__name__}"
    dataset = plugin.load(plugin.Options(**(options or {})), data_home=Path(data_home))
    _expect(isinstance(dataset, Dataset), f"{what}: load returned {type(dataset).__name__}, not a Dataset")
    meta = dataset.meta
    _expect(isinstance(meta, DatasetMeta), f"{what}: meta is {type(meta).__name__}, not a DatasetMeta")
    _expect(meta.task in ("classification", "regression"), f"{what}: unknown task {meta.task!r}")
    if meta.task == "classification":
        _expect(
            isinstance(meta.num_classes, int) and meta.num_classes >= 2,
            f"{what}: a classification data set needs num_classes >= 2, got {meta.num_classes!r}",
        )
        _expect(
            meta.class_names is None or len(meta.class_names) == meta.num_classes,
            f"{what}: {len(meta.class_names or ())} class_names for {meta.num_classes} classes",
        )
    for split in ("train", "val", "test"):
        _check_split(what, meta, split, getattr(dataset, f"X_{split}"), getattr(dataset, f"y_{split}"))
    for split in ("train", "val"):
        _expect(len(getattr(dataset, f"X_{split}")) > 0, f"{what}: the {split} split is empty")
    return dataset


def _check_split(what: str, meta: DatasetMeta, split: str, X: np.ndarray, y: np.ndarray) -> None:
    """Check one split's arrays against ``meta``."""
    where = f"{what}: X_{split}"
    _expect(isinstance(X, np.ndarray) and isinstance(y, np.ndarray), f"{where} and y_{split} must be numpy arrays")
    _expect(X.shape[1:] == tuple(meta.input_shape), f"{where} has shape {X.shape}, not (N, *{meta.input_shape})")
    _expect(X.dtype.kind == "f", f"{where} has dtype {X.dtype}, not a float dtype")
    _expect(bool(np.isfinite(X).all()), f"{where} holds NaN or infinite values")
    _expect(len(y) == len(X), f"{what}: y_{split} has {len(y)} targets for {len(X)} samples")
    if meta.task == "classification":
        _expect(
            y.ndim == 1 and y.dtype.kind in "iu",
            f"{what}: y_{split} must be integer labels (N,), got {y.dtype} {y.shape}",
        )
        _expect(
            y.size == 0 or (y.min() >= 0 and y.max() < meta.num_classes),
            f"{what}: y_{split} has labels outside [0, {meta.num_classes})",
        )
    else:
        _expect(
            y.dtype.kind == "f" and y.shape[1:] in ((), (meta.num_outputs,)),
            f"{what}: y_{split} must be float targets (N,) or (N, {meta.num_outputs}), got {y.dtype} {y.shape}",
        )


def _forward(layer: Layer, x: np.ndarray, params: Params, mode: Mode, what: str) -> tuple[np.ndarray, Any]:
    """``layer.forward(x, params, mode)``, checking that ``x`` is left as it was."""
    x_before = x.copy()
    out, cache = layer.forward(x, params, mode)
    _expect(np.array_equal(x, x_before, equal_nan=True), f"{what}: {mode}-mode forward modified its input x in place")
    return out, cache


def _build(layer_cls: type[Layer], options: Mapping[str, Any] | None) -> Layer:
    """An instance of ``layer_cls`` with ``options`` (its ``example_options`` by default)."""
    return layer_cls(**(layer_cls.example_options if options is None else options))


def _describe(layer_cls: type[Layer], options: Mapping[str, Any] | None, in_shape: Shape) -> str:
    """``"layer Conv(filters=2, ...) at input shape (1, 4, 4)"``, for messages."""
    return f"layer {_build(layer_cls, options)!r} at input shape {tuple(in_shape)}"


def _expect_finite(array: np.ndarray, prefix: str) -> None:
    """``_expect`` that ``array`` (computed from finite standard normal inputs) is finite."""
    if not np.isfinite(array).all():
        raise AssertionError(f"{prefix} {describe_nonfinite(array)} from finite inputs")


def _expect(condition: bool, message: str) -> None:
    """``assert condition, message`` that also runs under ``python -O``."""
    if not condition:
        raise AssertionError(message)
