"""The plugin manager: built-ins, entry points, broken plugins, the cached registries, lifecycle hooks."""

from __future__ import annotations

import pytest

from sweepnet import __version__, hookimpl
from sweepnet.core.optim import UPDATE_RULES
from sweepnet.errors import PluginError
from sweepnet.pluginmanager import (
    AUTOLOAD_ENV,
    InvalidPluginError,
    PluginInfo,
    PluginManager,
    PluginWarning,
    create_plugin_manager,
    get_plugin_manager,
    get_registries,
)
from sweepnet.plugins import DEFAULT_PLUGINS
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState
from sweepnet.registry import DuplicateComponentError

CORE_LAYERS = {
    "affine", "relu", "leaky_relu", "sigmoid", "tanh", "dropout", "batchnorm", "layernorm",
    "conv", "max_pool", "spatial_batchnorm", "spatial_groupnorm", "flatten",
}  # fmt: skip
MODELS = {"fc", "two_layer", "three_layer_convnet", "knn", "linear_svm", "softmax", "sequential"}

GOOD_PLUGIN = """
    from sweepnet import hookimpl
    from sweepnet.layer import Layer

    class Double(Layer):
        "Twice the input."

        def forward(self, x, params, mode):
            return 2 * x, None

        def backward(self, dout, cache):
            return 2 * dout, {}

    @hookimpl
    def sweepnet_register_layers(registry):
        registry.add("double", Double)
"""


class EverywherePlugin:
    """Registers one component of every kind, through every registration hook."""

    @hookimpl
    def sweepnet_register_layers(self, registry):
        registry.add("t_layer", object, description="layer")

    @hookimpl
    def sweepnet_register_optimizers(self, registry):
        registry.add("t_optimizer", object, description="optimizer")

    @hookimpl
    def sweepnet_register_datasets(self, registry):
        registry.add("t_dataset", object, description="dataset")

    @hookimpl
    def sweepnet_register_models(self, registry):
        registry.add("t_model", object, description="model")

    @hookimpl
    def sweepnet_register_searchers(self, registry):
        registry.add("t_searcher", object, description="searcher")

    @hookimpl
    def sweepnet_register_pruners(self, registry):
        registry.add("t_pruner", object, description="pruner")


# --------------------------------------------------------------------------- built-ins


def test_builtins_are_registered_as_plugins_credited_to_sweepnet(builtin_registries):
    manager = create_plugin_manager(autoload=False)
    assert list(manager.infos) == [*DEFAULT_PLUGINS, "sweepnet.plugins.tracker"]
    assert all(manager.is_registered(manager.get_plugin(name)) for name in manager.infos)
    assert set(builtin_registries.layers.names()) >= CORE_LAYERS
    assert set(builtin_registries.optimizers.names()) >= set(UPDATE_RULES)
    assert set(builtin_registries.models.names()) >= MODELS
    for _, registry in builtin_registries.items():
        for component in registry:
            assert (component.provider, component.version) == ("sweepnet", __version__)


def test_every_registration_hook_fills_its_registry_with_the_plugin_as_provider():
    manager = create_plugin_manager(autoload=False)
    manager.register_plugin(EverywherePlugin(), "everywhere", provider="tests-everywhere", version="9.9")
    registries = manager.build_registries()
    for field, registry in registries.items():
        component = registry.component(f"t_{registry.kind}")
        assert (component.provider, component.version) == ("tests-everywhere", "9.9")
        assert component.description == registry.kind
        assert component.kind == registry.kind, field


def test_registries_are_built_once_per_process(fresh_plugin_state):
    assert get_registries() is get_registries()
    assert get_plugin_manager() is get_plugin_manager()
    assert "relu" in get_registries().layers


def test_a_builtin_with_a_bad_hook_raises_naming_it():
    class Misspelled:
        @hookimpl
        def sweepnet_register_layer(self, registry):
            """A singular 'layer': no such hook."""

    manager = PluginManager()
    with pytest.raises(InvalidPluginError) as err:
        manager.register_plugin(Misspelled(), "sweepnet.plugins.typo", provider="sweepnet", version="0.1.0")
    assert str(err.value) == (
        "plugin 'sweepnet.plugins.typo' (sweepnet 0.1.0): implements unknown hook 'sweepnet_register_layer'; "
        "did you mean 'sweepnet_register_layers'?"
    )
    assert manager.get_plugin("sweepnet.plugins.typo") is None


def test_hook_arguments_must_exist_in_the_spec():
    class WrongArgument:
        @hookimpl
        def sweepnet_register_layers(self, registry, config):
            """Asks for an argument the hook does not have."""

    with pytest.raises(InvalidPluginError, match=r"^plugin 'wrong' \(tests 1\): .*config") as err:
        PluginManager().register_plugin(WrongArgument(), "wrong", provider="tests", version="1")
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- entry points


def test_entry_point_plugins_load_with_their_distribution_as_provider(installed_plugin):
    installed_plugin("double-layer", GOOD_PLUGIN, version="2.3.1", entry_point="double")
    manager = create_plugin_manager(autoload=True)
    assert manager.infos["double"] == PluginInfo("double", "double-layer", "2.3.1")
    component = manager.build_registries().layers.component("double")
    assert (component.provider, component.version) == ("double-layer", "2.3.1")
    assert component.description == "Twice the input."


def test_autoload_follows_the_environment_variable(installed_plugin, monkeypatch):
    installed_plugin("double-layer", GOOD_PLUGIN, entry_point="double")
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    assert "double" not in create_plugin_manager().infos
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert "double" in create_plugin_manager().infos
    monkeypatch.delenv(AUTOLOAD_ENV)
    assert "double" in create_plugin_manager().infos
    assert "double" not in create_plugin_manager(autoload=False).infos


def test_a_plugin_that_fails_to_import_is_reported_and_the_others_load(installed_plugin):
    installed_plugin("broken-plugin", "import tensorflow_for_numpy_nets\n", version="0.3", entry_point="broken")
    installed_plugin("double-layer", GOOD_PLUGIN, entry_point="double")
    with pytest.warns(PluginWarning, match=r"plugin 'broken' \(broken-plugin 0.3\) skipped: failed to import"):
        manager = create_plugin_manager(autoload=True)
    [failure] = manager.failures
    assert (failure.name, failure.provider, failure.version) == ("broken", "broken-plugin", "0.3")
    assert failure.error == (
        "failed to import 'broken_plugin': ModuleNotFoundError: No module named 'tensorflow_for_numpy_nets'"
    )
    assert "double" in manager.build_registries().layers


def test_a_misspelled_hook_is_reported_naming_the_plugin(installed_plugin):
    installed_plugin(
        "typo-plugin",
        """
        from sweepnet import hookimpl

        @hookimpl
        def sweepnet_regster_layers(registry):
            registry.add("never", object)
        """,
        entry_point="typo",
    )
    with pytest.warns(PluginWarning, match="plugin 'typo' .typo-plugin 1.0. skipped: implements unknown hook"):
        manager = create_plugin_manager(autoload=True)
    [failure] = manager.failures
    assert failure.error == (
        "implements unknown hook 'sweepnet_regster_layers'; did you mean 'sweepnet_register_layers'?"
    )
    assert manager.get_plugin("typo") is None
    assert "never" not in manager.build_registries().layers


def test_a_hook_without_hookimpl_is_reported(installed_plugin):
    installed_plugin(
        "unmarked-plugin",
        """
        def sweepnet_register_layers(registry):
            registry.add("never", object)
        """,
    )
    with pytest.warns(PluginWarning):
        manager = create_plugin_manager(autoload=True)
    assert [info.error for info in manager.failures] == [
        "sweepnet_register_layers is not marked with @sweepnet.hookimpl, so it would never be called"
    ]


def test_a_duplicate_name_raises_naming_both_providers(installed_plugin):
    installed_plugin(
        "my-relu",
        """
        from sweepnet import hookimpl

        @hookimpl
        def sweepnet_register_layers(registry):
            registry.add("relu", object)
        """,
        version="0.9",
    )
    manager = create_plugin_manager(autoload=True)
    with pytest.raises(DuplicateComponentError) as err:
        manager.build_registries()
    assert str(err.value) == f"layer 'relu' is registered twice: by sweepnet {__version__} and by my-relu 0.9"


def test_an_invalid_registration_names_the_plugin(installed_plugin):
    installed_plugin(
        "crashing-plugin",
        """
        from sweepnet import hookimpl

        @hookimpl
        def sweepnet_register_models(registry):
            registry.add("mlp", object, options={"units": 10})
        """,
        version="0.1",
    )
    with pytest.raises(PluginError, match=r"^model 'mlp' of crashing-plugin 0.1: its options model must be"):
        create_plugin_manager(autoload=True).build_registries()


def test_an_exception_inside_a_registration_hook_names_plugin_and_hook(installed_plugin):
    installed_plugin(
        "zero-plugin",
        """
        from sweepnet import hookimpl

        @hookimpl
        def sweepnet_register_pruners(registry):
            1 / 0
        """,
    )
    with pytest.raises(PluginError) as err:
        create_plugin_manager(autoload=True).build_registries()
    assert str(err.value) == (
        "plugin 'plugin' (zero-plugin 1.0): sweepnet_register_pruners raised ZeroDivisionError: division by zero"
    )


# --------------------------------------------------------------------------- lifecycle hooks


class Recorder:
    """Records every lifecycle hook call; takes only some arguments where it does not need all."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @hookimpl
    def sweepnet_sweep_start(self, sweep):
        self.calls.append(("sweep_start", sweep.name))

    @hookimpl
    def sweepnet_trial_start(self, trial):
        self.calls.append(("trial_start", trial.trial_id))

    @hookimpl
    def sweepnet_trial_report(self, trial, epoch, metrics):
        self.calls.append(("trial_report", trial.trial_id, epoch, metrics["val_acc"]))

    @hookimpl
    def sweepnet_trial_end(self, sweep, trial, result):
        self.calls.append(("trial_end", trial.trial_id, result.state))

    @hookimpl
    def sweepnet_sweep_end(self, sweep, results):
        self.calls.append(("sweep_end", [result.trial_id for result in results]))


def test_lifecycle_hooks_reach_plugins_with_the_records():
    manager = create_plugin_manager(autoload=False)
    recorder = Recorder()
    manager.register_plugin(recorder, "recorder", provider="tests", version="0")
    sweep = SweepInfo(name="digits-mlp", config={}, config_text="", metric="val_acc", mode="max")
    trial = TrialSpec(trial_id="ab12", number=0, params={"model.reg": 0.1}, config={}, seed=7)
    result = TrialResult(trial_id="ab12", state=TrialState.COMPLETED, metrics={"val_acc": 0.9})

    manager.hook.sweepnet_sweep_start(sweep=sweep)
    manager.hook.sweepnet_trial_start(sweep=sweep, trial=trial)
    manager.hook.sweepnet_trial_report(sweep=sweep, trial=trial, epoch=1, metrics={"loss": 0.3, "val_acc": 0.9})
    manager.hook.sweepnet_trial_end(sweep=sweep, trial=trial, result=result)
    manager.hook.sweepnet_sweep_end(sweep=sweep, results=[result])

    assert recorder.calls == [
        ("sweep_start", "digits-mlp"),
        ("trial_start", "ab12"),
        ("trial_report", "ab12", 1, 0.9),
        ("trial_end", "ab12", TrialState.COMPLETED),
        ("sweep_end", ["ab12"]),
    ]
