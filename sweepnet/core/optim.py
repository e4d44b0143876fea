"""First-order update rules with the classic CS231n contract.

Every rule has the signature ``update(w, dw, config=None) -> (next_w, config)``:

- ``w``: array of the current weights, any shape.
- ``dw``: array of the loss gradient with respect to ``w``, same shape.
- ``config``: dict of hyperparameters (defaults filled in with ``config.setdefault``) and of the
  rule's state (velocity, moments, step count), which persists between calls in that same dict.

``next_w`` is a new array in ``w``'s dtype; ``w`` itself is never modified, but state arrays owned
by ``config`` are updated in place, which spares one allocation per state array per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "UPDATE_RULES",
    "UpdateRule",
    "adagrad",
    "adam",
    "rmsprop",
    "sgd",
    "sgd_momentum",
    "sgd_nesterov_momentum",
]

UpdateRule = Callable[[np.ndarray, np.ndarray, dict[str, Any] | None], tuple[np.ndarray, dict[str, Any]]]


def _hyper(config: dict[str, Any], key: str) -> float:
    """Read a scalar hyperparameter as a Python float.

    A numpy float64 scalar would promote float32 arrays to float64 (NEP 50); a Python float
    keeps the weights' dtype.
    """
    return float(config[key])


def _state(config: dict[str, Any], key: str, w: np.ndarray) -> np.ndarray:
    """Return the state array ``config[key]``, creating zeros like ``w`` on first use."""
    if key not in config:
        config[key] = np.zeros_like(w)
    return config[key]


def sgd(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    config keys: ``learning_rate`` (1e-2).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    dw = np.asarray(dw, dtype=w.dtype)
    return w - _hyper(config, "learning_rate") * dw, config


def sgd_momentum(
    w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; next_w = w + v``.

    config keys: ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (state, zeros like ``w``).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    dw = np.asarray(dw, dtype=w.dtype)
    v = _state(config, "velocity", w)
    v *= _hyper(config, "momentum")
    v -= _hyper(config, "learning_rate") * dw
    return w + v, config


def sgd_nesterov_momentum(
    w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Nesterov momentum in the CS231n form, where ``dw`` is taken at the stored weights.

    ``v_prev = v; v = momentum * v - learning_rate * dw;
    next_w = w - momentum * v_prev + (1 + momentum) * v``.

    config keys: ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (state, zeros like ``w``).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    dw = np.asarray(dw, dtype=w.dtype)
    mu = _hyper(config, "momentum")
    v_prev = _state(config, "velocity", w)
    v = mu * v_prev - _hyper(config, "learning_rate") * dw
    next_w = w + (1 + mu) * v - mu * v_prev
    config["velocity"] = v
    return next_w, config


def rmsprop(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """RMSProp: a decaying average of squared gradients scales each weight's step.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2;
    next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)``.

    config keys: ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8),
    ``cache`` (state, zeros like ``w``).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    dw = np.asarray(dw, dtype=w.dtype)
    decay = _hyper(config, "decay_rate")
    cache = _state(config, "cache", w)
    cache *= decay
    cache += (1 - decay) * (dw * dw)
    step = np.sqrt(cache)
    step += _hyper(config, "epsilon")
    np.divide(dw, step, out=step)
    step *= _hyper(config, "learning_rate")
    return w - step, config


def adagrad(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Adagrad: the sum of all squared gradients so far scales each weight's step.

    ``cache += dw**2; next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)``.

    config keys: ``learning_rate`` (1e-2), ``epsilon`` (1e-8), ``cache`` (state, zeros like ``w``).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    dw = np.asarray(dw, dtype=w.dtype)
    cache = _state(config, "cache", w)
    cache += dw * dw
    step = np.sqrt(cache)
    step += _hyper(config, "epsilon")
    np.divide(dw, step, out=step)
    step *= _hyper(config, "learning_rate")
    return w - step, config


def adam(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Adam: bias-corrected moving averages of the gradient and of its square.

    ``t += 1; m = beta1 * m + (1 - beta1) * dw; v = beta2 * v + (1 - beta2) * dw**2;
    next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)`` with
    ``m_hat = m / (1 - beta1**t)`` and ``v_hat = v / (1 - beta2**t)``.

    config keys: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon`` (1e-8),
    state ``m``, ``v`` (zeros like ``w``) and ``t`` (0).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("t", 0)
    dw = np.asarray(dw, dtype=w.dtype)
    beta1, beta2 = _hyper(config, "beta1"), _hyper(config, "beta2")
    config["t"] += 1
    t = config["t"]
    m = _state(config, "m", w)
    v = _state(config, "v", w)
    m += (1 - beta1) * (dw - m)
    v *= beta2
    v += (1 - beta2) * (dw * dw)
    # Folding both bias corrections into one scalar step size (and epsilon into the scale of
    # sqrt(v)) gives exactly m_hat / (sqrt(v_hat) + epsilon) without two more passes over
    # the arrays.
    v_correction = math.sqrt(1 - beta2**t)
    step_size = _hyper(config, "learning_rate") * v_correction / (1 - beta1**t)
    step = np.sqrt(v)
    step += _hyper(config, "epsilon") * v_correction
    np.divide(m, step, out=step)
    step *= step_size
    return w - step, config


UPDATE_RULES: dict[str, UpdateRule] = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "sgd_nesterov_momentum": sgd_nesterov_momentum,
    "rmsprop": rmsprop,
    "adagrad": adagrad,
    "adam": adam,
}
"""Update rules by name; the Solver resolves ``update_rule="adam"`` through this table."""
