"""``sweepnet.plugin``: one import gives a plugin author everything, and it is what it says."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import PositiveFloat

import sweepnet.plugin as plugin
from sweepnet import hookimpl
from sweepnet.data.plugin import DatasetPlugin
from sweepnet.layer import Layer
from sweepnet.model import ModelPlugin
from sweepnet.pluginmanager import PluginManager
from sweepnet.registry import PluginOptions, Registry
from sweepnet.search import Pruner, Searcher
from sweepnet.testing import check_layer


def test_it_exports_the_hook_marker_the_base_classes_their_options_and_the_kit():
    assert plugin.hookimpl is hookimpl
    assert (plugin.Layer, plugin.ModelPlugin, plugin.DatasetPlugin) == (Layer, ModelPlugin, DatasetPlugin)
    assert (plugin.Searcher, plugin.Pruner) == (Searcher, Pruner)
    assert (plugin.PluginOptions, plugin.Registry) == (PluginOptions, Registry)
    assert plugin.check_layer is check_layer
    for name in ("check_optimizer", "check_dataset", "check_layer_gradients", "check_layer_dtype", "DownloadSource"):
        assert name in plugin.__all__
    public = [name for name in vars(plugin) if not name.startswith("_") and name != "annotations"]
    assert sorted(plugin.__all__) == sorted(public)


def test_the_module_docstring_example_is_a_working_plugin():
    namespace: dict = {}
    example = plugin.__doc__.split("::")[1].split("The base classes")[0]
    exec(compile("\n".join(line[4:] for line in example.splitlines()), "sweepnet.plugin", "exec"), namespace)
    check_layer(namespace["Scale"])
    manager = PluginManager()
    hooks = SimpleNamespace(sweepnet_register_layers=namespace["sweepnet_register_layers"])
    manager.register_plugin(hooks, "scale", provider="sweepnet-scale", version="1.0")
    layer = manager.build_registries().layers.component("scale")
    out, _ = layer.obj(factor=3.0).forward(np.ones((2, 2)), {}, "train")
    assert (out == 3).all()


def test_plugin_options_forbid_unknown_keys_for_every_kind():
    class Options(PluginOptions):
        rate: PositiveFloat = 0.1

    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        Options(rat=0.2)
