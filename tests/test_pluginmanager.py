"""The plugin manager: built-ins, entry points, broken plugins, name clashes, the cached registries."""

from __future__ import annotations

import pytest

from sweepnet import __version__, hookimpl
from sweepnet.core.optim import UPDATE_RULES
from sweepnet.errors import PluginError
from sweepnet.pluginmanager import (
    AUTOLOAD_ENV,
    DISABLE_ENV,
    PREFER_ENV,
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
from sweepnet.registry import UnavailableComponentError, UnknownComponentError

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


def test_a_plugin_that_exits_while_importing_is_skipped_too(installed_plugin):
    installed_plugin("exiting-plugin", "import sys\nsys.exit('no GPU found')\n", entry_point="exiting")
    installed_plugin("double-layer", GOOD_PLUGIN, entry_point="double")
    with pytest.warns(PluginWarning, match=r"'exiting' \(exiting-plugin 1.0\) skipped: .*SystemExit: no GPU found"):
        manager = create_plugin_manager(autoload=True)
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


RELU_PLUGIN = """
    from sweepnet import hookimpl

    class MyRelu:
        "Another relu."

    @hookimpl
    def sweepnet_register_layers(registry):
        registry.add("relu", MyRelu)
        registry.add("my_tanh", MyRelu)
"""


def test_a_name_taken_by_a_builtin_is_skipped_with_a_warning_naming_both(installed_plugin):
    installed_plugin("my-relu", RELU_PLUGIN, version="0.9", entry_point="myrelu")
    manager = create_plugin_manager(autoload=True)
    with pytest.warns(PluginWarning) as caught:
        registries = manager.build_registries()
    assert [str(w.message) for w in caught] == [
        "layer 'relu' of plugin 'myrelu' (my-relu 0.9) skipped: the name is taken by "
        f"sweepnet {__version__}, which registered it first; to use my-relu's, set {PREFER_ENV}=relu=my-relu"
    ]
    assert registries.layers.component("relu").provider == "sweepnet"
    assert registries.layers.component("my_tanh").provider == "my-relu"  # the plugin's other names stay
    assert manager.failures == []


def test_the_preference_variable_gives_the_name_to_the_plugin_without_a_warning(installed_plugin, monkeypatch, recwarn):
    installed_plugin("my-relu", RELU_PLUGIN, version="0.9")
    monkeypatch.setenv(PREFER_ENV, " relu = My_Relu ")
    registries = create_plugin_manager(autoload=True).build_registries()
    assert registries.layers.component("relu").provider == "my-relu"
    [conflict] = registries.layers.conflicts
    assert conflict.preferred and conflict.skipped.provider == "sweepnet"
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]
    monkeypatch.setenv(PREFER_ENV, "relu=sweepnet")
    assert create_plugin_manager(autoload=True).build_registries().layers.component("relu").provider == "sweepnet"


def test_a_preference_that_chooses_nothing_is_reported(installed_plugin, monkeypatch):
    installed_plugin("my-relu", RELU_PLUGIN, version="0.9")
    monkeypatch.setenv(PREFER_ENV, "relu=my-rellu,softplus=my-relu")
    with pytest.warns(PluginWarning) as caught:
        create_plugin_manager(autoload=True).build_registries()
    messages = [str(w.message) for w in caught]
    assert f"${PREFER_ENV} prefers my-rellu for 'relu', but it is offered by my-relu, sweepnet" in messages
    assert f"${PREFER_ENV} prefers my-relu for 'softplus', but no plugin offers it" in messages


def test_a_malformed_preference_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv(PREFER_ENV, "relu")
    with pytest.raises(PluginError, match=f"^\\${PREFER_ENV}: 'relu' is not NAME=DISTRIBUTION"):
        create_plugin_manager(autoload=False).build_registries()


def test_two_third_party_plugins_clash_the_same_way_on_every_machine(installed_plugin):
    for dist in ("zeta-swish", "alpha-swish"):  # installed in the "wrong" order on purpose
        installed_plugin(
            dist,
            f"""
            from sweepnet import hookimpl

            class Swish:
                "swish of {dist}"

            @hookimpl
            def sweepnet_register_layers(registry):
                registry.add("swish", Swish)
            """,
            entry_point=dist.split("-")[0],
        )
    with pytest.warns(PluginWarning, match="of plugin 'zeta' .zeta-swish 1.0. skipped: .* plugin 'alpha' .alpha-swish"):
        registries = create_plugin_manager(autoload=True).build_registries()
    assert registries.layers.component("swish").provider == "alpha-swish"


def test_the_disable_variable_keeps_a_plugin_from_being_imported(installed_plugin, monkeypatch, recwarn):
    installed_plugin("broken-plugin", "import tensorflow_for_numpy_nets\n", version="0.3", entry_point="broken")
    installed_plugin("double-layer", GOOD_PLUGIN, entry_point="double")
    monkeypatch.setenv(DISABLE_ENV, "Broken_Plugin")
    manager = create_plugin_manager(autoload=True)
    assert manager.failures == [] and [info.name for info in manager.disabled] == ["broken"]
    assert "double" in manager.build_registries().layers
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]
    monkeypatch.setenv(DISABLE_ENV, "double,nonesuch")  # by plugin name too; an unknown name is reported
    with pytest.warns(PluginWarning, match=f"\\${DISABLE_ENV} names 'nonesuch', which is no installed plugin"):
        manager = create_plugin_manager(autoload=True)
    assert "double" not in manager.build_registries().layers


def test_an_invalid_registration_skips_the_plugin_naming_it(installed_plugin):
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
    message = (
        r"^plugin 'plugin' \(crashing-plugin 0.1\) skipped: sweepnet_register_models: "
        r"model 'mlp' of crashing-plugin 0.1: its options model must be"
    )
    with pytest.warns(PluginWarning, match=message):
        registries = create_plugin_manager(autoload=True).build_registries()
    assert "mlp" not in registries.models


def test_a_registration_hook_that_raises_skips_the_whole_plugin_and_names_it(installed_plugin):
    installed_plugin(
        "zero-plugin",
        """
        from sweepnet import hookimpl

        class Half:
            "Registered before the hook raised."

        @hookimpl
        def sweepnet_register_layers(registry):
            registry.add("half", Half)

        @hookimpl
        def sweepnet_register_pruners(registry):
            registry.add("early", Half)
            1 / 0

        @hookimpl
        def sweepnet_trial_end(trial):
            raise AssertionError("a skipped plugin's lifecycle hooks never run")
        """,
    )
    manager = create_plugin_manager(autoload=True)
    with pytest.warns(PluginWarning) as caught:
        registries = manager.build_registries()
    reason = "sweepnet_register_pruners raised ZeroDivisionError: division by zero"
    assert [str(w.message) for w in caught] == [f"plugin 'plugin' (zero-plugin 1.0) skipped: {reason}"]
    assert [(info.name, info.error) for info in manager.failures] == [("plugin", reason)]
    for registry, name in ((registries.layers, "half"), (registries.pruners, "early")):
        with pytest.raises(UnavailableComponentError) as err:
            registry.component(name)
        why = f"plugin 'plugin' (zero-plugin 1.0) failed: {reason}"
        assert str(err.value) == f"{registry.kind} {name!r} is unavailable: {why}"
    assert manager.get_plugin("plugin") is None  # unregistered: its lifecycle hooks are not called
    assert "plugin" not in [impl.plugin_name for impl in manager.hook.sweepnet_trial_end.get_hookimpls()]
    assert "relu" in registries.layers


def test_an_unknown_name_mentions_a_plugin_that_failed_to_import(installed_plugin):
    installed_plugin("broken-plugin", "import tensorflow_for_numpy_nets\n", version="0.3", entry_point="broken")
    with pytest.warns(PluginWarning):
        registries = create_plugin_manager(autoload=True).build_registries()
    with pytest.raises(UnknownComponentError, match=r"^unknown layer 'swish'; it may come from a plugin that failed "
                       r"to load: plugin 'broken' \(broken-plugin 0.3\) \(available: "):  # fmt: skip
        registries.layers.component("swish")


def test_a_builtin_whose_registration_raises_is_a_bug_and_raises():
    class Crashing:
        @hookimpl
        def sweepnet_register_layers(self, registry):
            raise RuntimeError("bug")

    manager = create_plugin_manager(autoload=False)
    manager.register_plugin(Crashing(), "sweepnet.plugins.crashing", provider="sweepnet", version=__version__)
    with pytest.raises(PluginError, match=r"plugins.crashing.*sweepnet_register_layers raised RuntimeError: bug"):
        manager.build_registries()


def test_two_distributions_with_the_same_entry_point_name_both_load(installed_plugin):
    installed_plugin("double-layer", GOOD_PLUGIN, entry_point="layers")
    installed_plugin("my-relu", RELU_PLUGIN, entry_point="layers")
    manager = create_plugin_manager(autoload=True)
    assert {"layers", "my-relu:layers"} <= set(manager.infos)
    with pytest.warns(PluginWarning, match="relu"):
        registries = manager.build_registries()
    assert {"double", "my_tanh"} <= set(registries.layers.names())


def test_hook_wrappers_are_refused_naming_the_plugin():
    class Wrapper:
        @hookimpl(wrapper=True)
        def sweepnet_trial_end(self, trial):
            return (yield)

    with pytest.raises(InvalidPluginError, match="sweepnet_trial_end is a hook wrapper"):
        PluginManager().register_plugin(Wrapper(), "wrapper", provider="tests", version="1")


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
