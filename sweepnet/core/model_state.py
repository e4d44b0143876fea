"""A model's state: the arrays besides ``params`` that its test-time forward pass reads.

Batch normalisation predicts with running means and variances that training updates but that
are not parameters; a model restored to its best epoch needs the statistics of that epoch, not
of the last one. Two kinds of models are understood:

- a model with ``state() -> dict[str, np.ndarray]`` and ``load_state(state)`` methods (the
  ``sequential`` model of sweepnet's plugins) names its own state;
- a classic model keeps a list ``bn_params`` of one dict per normalised layer (the CS231n
  ``FullyConnectedNet`` pattern); every array in those dicts (``running_mean``, ``running_var``)
  is state, named ``bn_params.<i>.<key>``.

Any other model has no state (``{}``). Example::

    snapshot = model_state(model)        # copies
    ...                                  # more training moves the running statistics
    load_model_state(model, snapshot)    # back to the snapshot's
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["load_model_state", "model_state"]

_BN_PARAMS = "bn_params"


def model_state(model: Any) -> dict[str, np.ndarray]:
    """Copies of the state arrays of ``model``, name -> array (``{}`` for a model without state)."""
    if callable(getattr(model, "state", None)):
        return {name: np.array(value) for name, value in model.state().items()}
    return {
        f"{_BN_PARAMS}.{index}.{key}": np.array(value)
        for index, bn_param in enumerate(_bn_params(model))
        for key, value in bn_param.items()
        if isinstance(value, np.ndarray)
    }


def load_model_state(model: Any, state: Mapping[str, np.ndarray]) -> None:
    """Make ``model``'s state equal to ``state`` (as :func:`model_state` returned it).

    State arrays the model has but ``state`` lacks are removed (a snapshot taken before the first
    training step has no running statistics yet), so afterwards ``model_state(model) == state``.

    Raises
    ------
    ValueError
        when ``state`` names arrays the model does not have.
    """
    if callable(getattr(model, "load_state", None)):
        model.load_state({name: np.array(value) for name, value in state.items()})
        return
    bn_params = _bn_params(model)
    by_layer: list[dict[str, np.ndarray]] = [{} for _ in bn_params]
    for name, value in state.items():
        prefix, _, rest = name.partition(".")
        index, _, key = rest.partition(".")
        if prefix != _BN_PARAMS or not index.isdigit() or int(index) >= len(bn_params) or not key:
            raise ValueError(f"{type(model).__name__} has no state {name!r}")
        by_layer[int(index)][key] = np.array(value)
    for bn_param, arrays in zip(bn_params, by_layer, strict=True):
        for key in [key for key, value in bn_param.items() if isinstance(value, np.ndarray)]:
            del bn_param[key]
        bn_param.update(arrays)


def _bn_params(model: Any) -> list[dict[str, Any]]:
    """The classic per-layer normalisation dicts of ``model`` (empty when it has none)."""
    bn_params = getattr(model, _BN_PARAMS, None)
    if isinstance(bn_params, list | tuple) and all(isinstance(item, dict) for item in bn_params):
        return list(bn_params)
    return []
