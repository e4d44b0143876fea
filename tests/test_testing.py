"""The conformance kit passes correct plugins and catches each kind of broken one, saying why."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from sweepnet.core.layers import relu_forward
from sweepnet.core.optim import sgd
from sweepnet.data import Dataset, DatasetMeta, DatasetPlugin
from sweepnet.layer import Layer
from sweepnet.testing import check_dataset, check_layer, check_layer_dtype, check_layer_gradients, check_optimizer

# --------------------------------------------------------------------------- layers


class Scale(Layer):
    """out = a * x with a learned vector a: (D,), correct."""

    example_shapes = ((4,),)

    def init_params(self, in_shape, rng, dtype):
        return {"a": rng.standard_normal(in_shape).astype(dtype)}, tuple(in_shape)

    def forward(self, x, params, mode):
        return x * params["a"], (x, params["a"])

    def backward(self, dout, cache):
        x, a = cache
        return dout * a, {"a": (dout * x).sum(axis=0)}


class ReluForgetsTheMask(Layer):
    def forward(self, x, params, mode):
        return relu_forward(x)

    def backward(self, dout, cache):
        return dout, {}


class ScaleWithWrongParamGrad(Scale):
    def backward(self, dout, cache):
        dx, _ = super().backward(dout, cache)
        return dx, {"a": dout.sum(axis=0)}


class ScaleWithoutParamGrad(Scale):
    def backward(self, dout, cache):
        return super().backward(dout, cache)[0], {}


class PromisesTheWrongShape(Scale):
    def init_params(self, in_shape, rng, dtype):
        params, _ = super().init_params(in_shape, rng, dtype)
        return params, (1,)


class Upcasts(Layer):
    def forward(self, x, params, mode):
        return x.astype(np.float64), None

    def backward(self, dout, cache):
        return dout, {}


class WritesIntoItsInput(Layer):
    def forward(self, x, params, mode):
        np.maximum(x, 0, out=x)
        return x, x > 0

    def backward(self, dout, cache):
        return dout * cache, {}


class ForgetfulNorm(Layer):
    """Centres with a running mean in test mode, but reports no state: the Solver could not restore it."""

    def __init__(self, **options):
        super().__init__(**options)
        self.running_mean = None

    def forward(self, x, params, mode):
        if mode == "train":
            mean = x.mean(axis=0)
            self.running_mean = mean if self.running_mean is None else 0.5 * (self.running_mean + mean)
            return x - mean, None
        return x - self.running_mean, None

    def backward(self, dout, cache):
        return dout - dout.mean(axis=0), {}


class AliasedNorm(ForgetfulNorm):
    """Reports its running mean, but as the array it keeps updating in place."""

    def forward(self, x, params, mode):
        if mode == "train" and self.running_mean is not None:
            self.running_mean += 0.5 * (x.mean(axis=0) - self.running_mean)
            return x - x.mean(axis=0), None
        return super().forward(x, params, mode)

    def state(self):
        return {} if self.running_mean is None else {"running_mean": self.running_mean}

    def load_state(self, state):
        self.running_mean = state.get("running_mean")


def test_a_correct_layer_passes():
    check_layer(Scale)
    check_layer(Scale, shapes=((2, 3), (5,)))


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (ReluForgetsTheMask, r"layer ReluForgetsTheMask\(\) at input shape \(7,\): dx does not match the numerical "
                             r"gradient \(relative error 1.0e\+00 > 1e-05\)"),
        (ScaleWithWrongParamGrad, r"grads\['a'\] does not match the numerical gradient"),
        (ScaleWithoutParamGrad, r"backward returned grads \[\] for params \['a'\]"),
        (PromisesTheWrongShape, r"forward returned \(3, 4\), expected \(N, \*\(1,\)\)"),
        (Upcasts, r"train-mode forward turned float32 into float64"),
        (WritesIntoItsInput, r"train-mode forward modified its input x in place"),
        (ForgetfulNorm, r"ForgetfulNorm\(\) at input shape \(7,\): test-mode output differs after "
                        r"load_state\(state\(\)\): state\(\) misses something test mode reads"),
        (AliasedNorm, r"state\(\)\['running_mean'\] changed when the layer trained on"),
    ],
)  # fmt: skip
def test_a_broken_layer_is_caught_with_a_clear_message(layer, message):
    with pytest.raises(AssertionError, match=message):
        check_layer(layer)


def test_gradient_and_dtype_checks_run_separately():
    check_layer_gradients(Upcasts, (3,))
    with pytest.raises(AssertionError, match="float32"):
        check_layer_dtype(Upcasts, (3,))
    check_layer_dtype(ReluForgetsTheMask, (3,))
    with pytest.raises(AssertionError, match="dx does not match"):
        check_layer_gradients(ReluForgetsTheMask, (3,))


def test_the_tolerance_is_respected():
    class SlightlyOff(Scale):
        def backward(self, dout, cache):
            dx, grads = super().backward(dout, cache)
            return dx * (1 + 1e-4), grads

    with pytest.raises(AssertionError, match="dx does not match"):
        check_layer(SlightlyOff)
    check_layer(SlightlyOff, tolerance=1e-3)


# --------------------------------------------------------------------------- optimizers


def ascends(w, dw, config=None):
    config = {} if config is None else config
    return w + 1e-2 * dw, config


def upcasts(w, dw, config=None):
    config = {} if config is None else config
    return (w - 1e-2 * dw).astype(np.float64), config


_hidden_steps = itertools.count()


def keeps_state_outside_config(w, dw, config=None):
    """An annealed SGD whose step counter is a global instead of living in config."""
    config = {} if config is None else config
    return w - 0.1 / (1 + next(_hidden_steps)) ** 0.5 * dw, config


def unpicklable_state(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("schedule", lambda t: 1e-2)
    return w - config["schedule"](0) * dw, config


def forgets_config(w, dw, config=None):
    return w - 1e-2 * dw, None


def test_a_correct_optimizer_passes():
    check_optimizer(sgd)
    check_optimizer(sgd, {"learning_rate": 0.1}, steps=20)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (ascends, r"optimizer 'ascends': 100 steps on a quadratic only took the loss from"),
        (upcasts, r"float32 weights of shape \(5,\) came back as float64"),
        (keeps_state_outside_config, r"resuming from a pickled config changed the result; keep all state in config"),
        (unpicklable_state, r"its config cannot be pickled"),
        (forgets_config, r"update\(w, dw, None\) returned config None, not a dict"),
    ],
)
def test_a_broken_optimizer_is_caught_with_a_clear_message(update, message):
    with pytest.raises(AssertionError, match=message):
        check_optimizer(update)


# --------------------------------------------------------------------------- datasets


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    corruption: str = "none"


class Blobs(DatasetPlugin):
    """Two Gaussian blobs in 3-D; ``corruption`` breaks one rule of the contract."""

    Options = _Options

    def load(self, options: _Options, *, data_home: Path) -> Dataset:
        rng = np.random.default_rng(0)
        X = [rng.standard_normal((n, 3)).astype(np.float32) for n in (20, 6, 6)]
        y = [np.arange(len(part)) % 2 for part in X]
        meta = DatasetMeta("blobs", "classification", (3,), num_classes=2, class_names=("a", "b"))
        match options.corruption:
            case "labels":
                y[1] = y[1] + 2
            case "shape":
                meta = DatasetMeta("blobs", "classification", (4,), num_classes=2)
            case "nan":
                X[0][3, 1] = np.nan
            case "empty_val":
                X[1], y[1] = X[1][:0], y[1][:0]
            case "int_inputs":
                X[2] = X[2].astype(np.int64)
            case "float_labels":
                y[0] = y[0].astype(np.float32)
            case "class_names":
                meta = DatasetMeta("blobs", "classification", (3,), num_classes=2, class_names=("a",))
            case "regression_labels":
                meta = DatasetMeta("blobs", "regression", (3,))
            case "not_a_dataset":
                return {"X_train": X[0]}  # type: ignore[return-value]
        return Dataset(meta, X[0], y[0], X[1], y[1], X[2], y[2])


def test_a_correct_dataset_passes_and_is_returned(tmp_path):
    dataset = check_dataset(Blobs, data_home=tmp_path)
    assert dataset.X_train.shape == (20, 3)
    check_dataset(Blobs(), {"corruption": "none"}, data_home=str(tmp_path))


@pytest.mark.parametrize(
    ("corruption", "message"),
    [
        ("labels", r"y_val has labels outside \[0, 2\)"),
        ("shape", r"X_train has shape \(20, 3\), not \(N, \*\(4,\)\)"),
        ("nan", r"X_train holds NaN or infinite values"),
        ("empty_val", r"the val split is empty"),
        ("int_inputs", r"X_test has dtype int64, not a float dtype"),
        ("float_labels", r"y_train must be integer labels \(N,\), got float32"),
        ("class_names", r"1 class_names for 2 classes"),
        ("regression_labels", r"y_train must be float targets \(N,\) or \(N, 1\), got int64"),
        ("not_a_dataset", r"load returned dict, not a Dataset"),
    ],
)
def test_a_broken_dataset_is_caught_with_a_clear_message(tmp_path, corruption, message):
    with pytest.raises(AssertionError, match=f"dataset Blobs: .*{message}"):
        check_dataset(Blobs, {"corruption": corruption}, data_home=tmp_path)
