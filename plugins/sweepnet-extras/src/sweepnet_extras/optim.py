"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

The classic update-rule contract ``adamw(w, dw, config=None) -> (next_w, config)``, with all
state (``m``, ``v``, ``t``) in ``config`` so the Solver can keep one per parameter and pickle it.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field

from sweepnet.plugin import PluginOptions

__all__ = ["AdamWOptions", "adamw"]


class AdamWOptions(PluginOptions):
    """Config keys of ``adamw`` (defaults as in ``torch.optim.AdamW``)."""

    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    beta1: Annotated[float, Field(ge=0, lt=1)] = 0.9
    beta2: Annotated[float, Field(ge=0, lt=1)] = 0.999
    epsilon: Annotated[float, Field(gt=0)] = 1e-8
    weight_decay: Annotated[float, Field(ge=0)] = 1e-2


def adamw(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Adam step plus weight decay applied to the weights directly, not through the gradient.

    ``t += 1; m = beta1 * m + (1 - beta1) * dw; v = beta2 * v + (1 - beta2) * dw**2;
    next_w = w - learning_rate * (m_hat / (sqrt(v_hat) + epsilon) + weight_decay * w)``
    with ``m_hat = m / (1 - beta1**t)``, ``v_hat = v / (1 - beta2**t)``.

    Parameters
    ----------
    w : weights, any shape; not modified.
    dw : gradient of the loss, the shape of ``w``.
    config : hyperparameters (see :class:`AdamWOptions`) and state ``m``, ``v`` (like ``w``), ``t``.

    Returns
    -------
    next_w : the updated weights, in ``w``'s dtype.
    config : the same dict, state updated.
    """
    config = {} if config is None else config
    for key, value in AdamWOptions().model_dump().items():
        config.setdefault(key, value)
    if "t" not in config:
        config.update(t=0, m=np.zeros_like(w), v=np.zeros_like(w))
    # Python floats: a numpy float64 scalar would promote float32 weights.
    lr, beta1, beta2 = float(config["learning_rate"]), float(config["beta1"]), float(config["beta2"])
    dw = np.asarray(dw, dtype=w.dtype)
    config["t"] += 1
    config["m"] = m = beta1 * config["m"] + (1 - beta1) * dw
    config["v"] = v = beta2 * config["v"] + (1 - beta2) * (dw * dw)
    m_hat = m / (1 - beta1 ** config["t"])
    v_hat = v / (1 - beta2 ** config["t"])
    step = m_hat / (np.sqrt(v_hat) + float(config["epsilon"])) + float(config["weight_decay"]) * w
    return w - lr * step, config
