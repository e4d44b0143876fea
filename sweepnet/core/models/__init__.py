"""The classic models: ``TwoLayerNet``, ``FullyConnectedNet`` and ``ThreeLayerConvNet``.

Each has ``params`` (dict of arrays), ``reg`` and ``loss(X, y=None)``: scores without ``y``,
``(loss, grads)`` with it. All accept ``seed`` / ``rng`` to make weight initialisation independent
of the global numpy random state.
"""

from __future__ import annotations

from sweepnet.core.models.cnn import ThreeLayerConvNet
from sweepnet.core.models.fc_net import FullyConnectedNet
from sweepnet.core.models.two_layer_net import TwoLayerNet

__all__ = ["FullyConnectedNet", "ThreeLayerConvNet", "TwoLayerNet"]
