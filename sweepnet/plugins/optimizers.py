"""Built-in optimizer plugins: every update rule of :mod:`sweepnet.core.optim`.

Each rule is registered with a pydantic model of its config keys (the ``optim_config`` of the
classic Solver); the defaults are the rule's own ``config.setdefault`` values.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sweepnet import hookimpl
from sweepnet.core import optim
from sweepnet.registry import Registry

__all__ = [
    "AdagradOptions",
    "AdamOptions",
    "MomentumOptions",
    "RMSPropOptions",
    "SGDOptions",
    "sweepnet_register_optimizers",
]

_Rate = Annotated[float, Field(gt=0)]
_Decay = Annotated[float, Field(ge=0, lt=1)]


class SGDOptions(BaseModel):
    """Config keys of ``sgd``."""

    model_config = ConfigDict(extra="forbid")
    learning_rate: _Rate = 1e-2


class MomentumOptions(SGDOptions):
    """Config keys of ``sgd_momentum`` and ``sgd_nesterov_momentum``."""

    momentum: _Decay = 0.9


class RMSPropOptions(SGDOptions):
    """Config keys of ``rmsprop``."""

    decay_rate: _Decay = 0.99
    epsilon: _Rate = 1e-8


class AdagradOptions(SGDOptions):
    """Config keys of ``adagrad``."""

    epsilon: _Rate = 1e-8


class AdamOptions(SGDOptions):
    """Config keys of ``adam``."""

    learning_rate: _Rate = 1e-3
    beta1: _Decay = 0.9
    beta2: _Decay = 0.999
    epsilon: _Rate = 1e-8


_OPTIONS: dict[str, type[BaseModel]] = {
    "sgd": SGDOptions,
    "sgd_momentum": MomentumOptions,
    "sgd_nesterov_momentum": MomentumOptions,
    "rmsprop": RMSPropOptions,
    "adagrad": AdagradOptions,
    "adam": AdamOptions,
}


@hookimpl
def sweepnet_register_optimizers(registry: Registry) -> None:
    """Register every update rule of :data:`sweepnet.core.optim.UPDATE_RULES` with its options."""
    for name, rule in optim.UPDATE_RULES.items():
        registry.add(name, rule, options=_OPTIONS[name])
