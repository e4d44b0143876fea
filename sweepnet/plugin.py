"""Everything a plugin author builds on, in one import.

::

    from sweepnet.plugin import Layer, PluginOptions, Registry, hookimpl

    class Scale(Layer):
        "Multiply by a constant."

        class Options(PluginOptions):
            factor: float = 2.0

        def forward(self, x, params, mode):
            return self.options.factor * x, None

        def backward(self, dout, cache):
            return self.options.factor * dout, {}

    @hookimpl
    def sweepnet_register_layers(registry: Registry) -> None:
        registry.add("scale", Scale)

The base classes of each kind of component, their options base class, what they receive and
return, the errors to raise, the records the lifecycle hooks see, the download source of a data
set, and the conformance kit to test with (also importable as :mod:`sweepnet.testing`). See
``docs/plugins.md``.
"""

from __future__ import annotations

from sweepnet import hookimpl
from sweepnet.data.dataset import Dataset, DatasetMeta
from sweepnet.data.download import DownloadSource, RemoteFile, require
from sweepnet.data.plugin import DatasetPlugin
from sweepnet.errors import ConfigError, DataError, PluginError
from sweepnet.layer import Layer, Mode, Params, Shape, ShapeError, expect_ndim
from sweepnet.model import ModelPlugin, num_outputs, require_classification, resolve_loss, resolve_rng
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState
from sweepnet.registry import PluginOptions, Registry
from sweepnet.search import Pruner, Searcher, SearchSpace
from sweepnet.testing import check_dataset, check_layer, check_layer_dtype, check_layer_gradients, check_optimizer

__all__ = [
    "ConfigError",
    "DataError",
    "Dataset",
    "DatasetMeta",
    "DatasetPlugin",
    "DownloadSource",
    "Layer",
    "Mode",
    "ModelPlugin",
    "Params",
    "PluginError",
    "PluginOptions",
    "Pruner",
    "RemoteFile",
    "Registry",
    "SearchSpace",
    "Searcher",
    "Shape",
    "ShapeError",
    "SweepInfo",
    "TrialResult",
    "TrialSpec",
    "TrialState",
    "check_dataset",
    "check_layer",
    "check_layer_dtype",
    "check_layer_gradients",
    "check_optimizer",
    "expect_ndim",
    "hookimpl",
    "num_outputs",
    "require",
    "require_classification",
    "resolve_loss",
    "resolve_rng",
]
