"""Installed, the package is found through its entry point and its components work by name."""

from __future__ import annotations

import numpy as np
from sweepnet_extras import __version__

from sweepnet.core.solver import Solver
from sweepnet.pluginmanager import create_plugin_manager


def _registries():
    manager = create_plugin_manager(autoload=True)
    assert [failure for failure in manager.failures if failure.provider == "sweepnet-extras"] == []
    return manager.build_registries()


def test_entry_point_registers_everything_with_provider_and_version():
    registries = _registries()
    for kind, name in [("layers", "gelu"), ("layers", "silu"), ("optimizers", "adamw"), ("datasets", "spiral")]:
        component = getattr(registries, kind).component(name)
        assert (component.provider, component.version) == ("sweepnet-extras", __version__)


def test_sequential_net_with_gelu_learns_the_spiral(tmp_path):
    registries = _registries()
    spiral = registries.datasets.component("spiral")
    data = spiral.obj().load(spiral.parse_options({"noise": 0.1}, "data.options"), data_home=tmp_path)
    layers = [
        {"name": "affine", "units": 64},
        "gelu",
        {"name": "affine", "units": 64},
        "silu",
        {"name": "affine", "units": 3},
    ]
    sequential = registries.models.component("sequential")
    options = sequential.parse_options({"layers": layers}, "model")
    model = sequential.obj(registries.layers).build(options, data.meta, seed=0)
    solver = Solver(
        model,
        data,
        update_rule=registries.optimizers.get("adamw"),
        optim_config={"learning_rate": 2e-2, "weight_decay": 1e-4},
        num_epochs=40,
        batch_size=32,
        verbose=False,
        seed=0,
    )
    solver.train()
    assert solver.best_val_acc > 0.9
    assert np.isfinite(solver.loss_history).all()
