"""The pluggy plugin manager: built-in plugins, entry-point plugins, and the registries they fill.

Built-in plugins (the modules in :data:`sweepnet.plugins.DEFAULT_PLUGINS`) and third-party ones
(objects named by entry points of the group ``sweepnet``) go through the same hooks. Set
``SWEEPNET_DISABLE_PLUGIN_AUTOLOAD=1`` to skip the entry points (tests, debugging).

One broken third-party plugin never stops the others, each reported in one line (a
:class:`PluginWarning`) naming the plugin and its distribution:

- a plugin that cannot be imported, or whose hooks are malformed, is skipped;
- a plugin whose registration hook raises is skipped with all its components; a sweep that names
  one of them fails naming the plugin (:class:`~sweepnet.registry.UnavailableComponentError`);
- a component name offered by two plugins stays with the one registered first (built-ins first,
  then distributions by name); ``SWEEPNET_PREFER=NAME=DISTRIBUTION[,...]`` gives it to another;
- ``SWEEPNET_DISABLE_PLUGINS=NAME[,...]`` (plugin or distribution names) does not load those at
  all, like pytest's ``-p no:NAME``.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import warnings
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points

import pluggy

from sweepnet import __version__, hookspecs
from sweepnet.errors import PluginError, SweepnetWarning
from sweepnet.plugins import DEFAULT_PLUGINS
from sweepnet.registry import BUILTIN_PROVIDER, Registries, canonical_name

__all__ = [
    "AUTOLOAD_ENV",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "PREFER_ENV",
    "InvalidPluginError",
    "PluginInfo",
    "PluginManager",
    "PluginWarning",
    "create_plugin_manager",
    "get_plugin_manager",
    "get_registries",
]

ENTRY_POINT_GROUP = "sweepnet"
AUTOLOAD_ENV = "SWEEPNET_DISABLE_PLUGIN_AUTOLOAD"
DISABLE_ENV = "SWEEPNET_DISABLE_PLUGINS"
PREFER_ENV = "SWEEPNET_PREFER"
_HOOK_NAMES = [name for name in hookspecs.__all__ if name.startswith("sweepnet_")]
_REGISTRATION_HOOKS = {field: f"sweepnet_register_{field}" for field, _ in Registries().items()}


class PluginWarning(SweepnetWarning):
    """An installed plugin (or one of its components) was skipped or disabled; the message says why."""


@dataclass(frozen=True)
class PluginInfo:
    """A plugin the manager tried to load.

    Attributes
    ----------
    name : plugin name (entry-point name, or module name for built-ins).
    provider, version : the distribution it came from (``"sweepnet"`` for built-ins).
    error : why it was skipped, or None when it loaded.
    """

    name: str
    provider: str
    version: str
    error: str | None = None

    @property
    def label(self) -> str:
        """``plugin 'extras' (sweepnet-extras 0.1.0)``, for messages."""
        return f"plugin {self.name!r} ({f'{self.provider} {self.version}'.strip()})"

    @property
    def builtin(self) -> bool:
        """True for sweepnet's own plugins: their failures are bugs, raised rather than contained."""
        return self.provider == BUILTIN_PROVIDER


class InvalidPluginError(PluginError):
    """A plugin's hooks are malformed; ``str(err)`` names the plugin, ``reason`` says what is wrong."""

    def __init__(self, info: PluginInfo, reason: str) -> None:
        self.info, self.reason = info, reason
        super().__init__(f"{info.label}: {reason}")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager for the project ``sweepnet``, knowing where each plugin came from.

    Attributes
    ----------
    infos : every plugin it tried to load, by name, in loading order.
    disabled : plugins not loaded because ``$SWEEPNET_DISABLE_PLUGINS`` names them.
    """

    def __init__(self) -> None:
        super().__init__("sweepnet")
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.disabled: list[PluginInfo] = []

    @property
    def failures(self) -> list[PluginInfo]:
        """Plugins that were skipped, with the reason."""
        return [info for info in self.infos.values() if info.error is not None]

    def info(self, name: str) -> PluginInfo:
        """The :class:`PluginInfo` of plugin ``name`` (a stand-in for one registered by plain pluggy)."""
        return self.infos.get(name) or PluginInfo(name, name, "")

    def register_plugin(self, plugin: object, name: str, *, provider: str, version: str) -> None:
        """Register ``plugin`` after checking that its hooks exist.

        Parameters
        ----------
        plugin : a module or object with ``@hookimpl`` functions.
        name : unique plugin name.
        provider, version : the distribution providing it, credited on its components.

        Raises
        ------
        InvalidPluginError
            naming the plugin, for a hook that does not exist (a misspelled name, with the closest
            real one), a ``sweepnet_*`` function missing ``@hookimpl``, a hook wrapper, hook
            arguments that do not match the spec, or a name already in use.
        """
        info = PluginInfo(name, provider, version)
        try:
            self.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as err:
            raise InvalidPluginError(info, " ".join(str(err).split())) from None
        problem = self._hook_problem(plugin)
        if problem:
            self.unregister(plugin)
            raise InvalidPluginError(info, problem)
        self.infos[name] = info

    def _hook_problem(self, plugin: object) -> str | None:
        """Why the hooks of a just-registered ``plugin`` are wrong, or None."""
        for caller in self.get_hookcallers(plugin) or []:
            impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
            if not caller.has_spec() and not any(impl.optionalhook for impl in impls):
                close = difflib.get_close_matches(caller.name, _HOOK_NAMES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                return f"implements unknown hook {caller.name!r}{hint}"
            if any(impl.wrapper or impl.hookwrapper for impl in impls):
                # Each plugin's implementation is called on its own (see sweepnet.lifecycle).
                return f"{caller.name} is a hook wrapper; sweepnet hooks take plain functions"
        for attribute in dir(plugin):
            unmarked = self.parse_hookimpl_opts(plugin, attribute) is None
            if attribute.startswith("sweepnet_") and unmarked and callable(getattr(plugin, attribute)):
                return f"{attribute} is not marked with @sweepnet.hookimpl, so it would never be called"
        return None

    def load_default_plugins(self) -> None:
        """Register the built-in plugin modules of :data:`sweepnet.plugins.DEFAULT_PLUGINS`, then
        the MLflow tracker, an object that registers one tracker per sweep on this manager."""
        from sweepnet.plugins.tracker import Tracker

        for module_name in DEFAULT_PLUGINS:
            self.register_plugin(
                importlib.import_module(module_name), module_name, provider=BUILTIN_PROVIDER, version=__version__
            )
        self.register_plugin(Tracker(self), "sweepnet.plugins.tracker", provider=BUILTIN_PROVIDER, version=__version__)

    def load_entrypoint_plugins(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register the object of every entry point in ``group``; report and skip broken ones.

        Distributions load in the order of their names (then entry-point names), so which of two
        clashing plugins keeps a name is the same on every machine. Plugins named by
        ``$SWEEPNET_DISABLE_PLUGINS`` are not imported.
        """
        blocked = _env_list(DISABLE_ENV)
        matched: set[str] = set()
        for entry_point in sorted(entry_points(group=group), key=_load_order):
            info = _entry_point_info(entry_point)
            hit = blocked & {canonical_name(info.name), canonical_name(info.provider)}
            if hit:
                matched |= hit
                self.disabled.append(info)
                continue
            self._load_entrypoint(entry_point, info)
        for name in sorted(blocked - matched):
            _warn(f"${DISABLE_ENV} names {name!r}, which is no installed plugin or distribution")

    def _load_entrypoint(self, entry_point: EntryPoint, info: PluginInfo) -> None:
        """Import and register one entry point; on failure record it and warn."""
        if self.has_plugin(info.name):  # two distributions chose the same entry-point name
            info = replace(info, name=f"{info.provider}:{info.name}")
        try:
            plugin = entry_point.load()
        except (Exception, SystemExit) as err:  # a broken third-party plugin must not take the others down
            self._skip(info, f"failed to import {entry_point.value!r}: {type(err).__name__}: {err}")
            return
        try:
            self.register_plugin(plugin, info.name, provider=info.provider, version=info.version)
        except InvalidPluginError as err:
            self._skip(info, err.reason)

    def _skip(self, info: PluginInfo, reason: str) -> PluginInfo:
        """Record that the plugin of ``info`` was skipped, and warn; returns the updated info."""
        reason = " ".join(reason.split())
        info = self.infos[info.name] = replace(info, error=reason)
        _warn(f"{info.label} skipped: {reason}")
        return info

    def build_registries(self) -> Registries:
        """Call every plugin's ``sweepnet_register_*`` hooks into fresh registries.

        Each plugin registers into registries of its own first, credited to its provider; only
        when all its registration hooks succeed are its components added to the shared ones.
        A third-party plugin whose hook raises is skipped (unregistered, so none of its hooks run
        again) with a :class:`PluginWarning`; the names it had registered resolve to an error
        naming it. A name two plugins offer stays with the first, unless ``$SWEEPNET_PREFER``
        says otherwise, with a warning naming both distributions.

        Raises
        ------
        PluginError
            when a built-in plugin's hook raises (a bug in sweepnet), or ``$SWEEPNET_PREFER`` is malformed.
        """
        preferences = _preferences()
        registries = Registries()
        for name, plugin in self.list_name_plugin():  # registration order: built-ins first
            info = self.info(name)
            staged = Registries()
            failure = self._register_components(plugin, info, staged)
            if failure is None:
                for field, registry in registries.items():
                    registry.merge(getattr(staged, field), preferences)
                continue
            if info.builtin:
                raise PluginError(f"{info.label}: {failure}")
            info = self._skip(info, failure)
            self.unregister(plugin)
            for field, registry in staged.items():
                for component in registry:
                    getattr(registries, field).mark_unavailable(component.name, f"{info.label} failed: {failure}")
        broken = [info.label for info in self.failures]
        for _, registry in registries.items():
            registry.broken_plugins = broken
            for conflict in registry.conflicts:
                if not conflict.preferred:
                    name, other = conflict.kept.name, conflict.skipped.provider
                    _warn(f"{conflict}; to use {other}'s, set {PREFER_ENV}={name}={other}")
        _check_preferences(preferences, registries)
        return registries

    def _register_components(self, plugin: object, info: PluginInfo, staged: Registries) -> str | None:
        """Call ``plugin``'s registration hooks into ``staged``; returns why one failed, or None."""
        for field, registry in staged.items():
            hook = _REGISTRATION_HOOKS[field]
            for impl in getattr(self.hook, hook).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                with registry.providing(info.provider, info.version, info.name):
                    try:
                        impl.function(*[{"registry": registry}[arg] for arg in impl.argnames])
                    except PluginError as err:
                        return f"{hook}: {err}"
                    except (Exception, SystemExit) as err:
                        return f"{hook} raised {type(err).__name__}: {' '.join(str(err).split())}"
        return None


def _entry_point_info(entry_point: EntryPoint) -> PluginInfo:
    dist = entry_point.dist
    provider, version = (dist.name, dist.version) if dist is not None else (entry_point.value, "")
    return PluginInfo(entry_point.name, provider, version)


def _load_order(entry_point: EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    return (canonical_name(dist.name) if dist is not None else "", entry_point.name)


def _env_list(variable: str) -> set[str]:
    """The comma-separated names of ``$variable``, canonical."""
    return {canonical_name(item.strip()) for item in os.environ.get(variable, "").split(",") if item.strip()}


def _preferences() -> dict[str, str]:
    """``$SWEEPNET_PREFER`` as ``{component name: canonical distribution name}``.

    Raises
    ------
    PluginError
        for an entry that is not ``NAME=DISTRIBUTION``.
    """
    preferences = {}
    for item in os.environ.get(PREFER_ENV, "").split(","):
        if not item.strip():
            continue
        name, sep, dist = (part.strip() for part in item.partition("="))
        if not (sep and name and dist):
            raise PluginError(f"${PREFER_ENV}: {item.strip()!r} is not NAME=DISTRIBUTION, e.g. gelu=sweepnet-extras")
        preferences[name] = canonical_name(dist)
    return preferences


def _check_preferences(preferences: dict[str, str], registries: Registries) -> None:
    """Warn about a preference that chose nothing (a misspelled name or distribution)."""
    for name, dist in preferences.items():
        offers = {
            canonical_name(component.provider)
            for _, registry in registries.items()
            for conflict in registry.conflicts
            if conflict.kept.name == name
            for component in (conflict.kept, conflict.skipped)
        }
        offers |= {canonical_name(r.component(name).provider) for _, r in registries.items() if name in r}
        if dist not in offers:
            found = f"it is offered by {', '.join(sorted(offers))}" if offers else "no plugin offers it"
            _warn(f"${PREFER_ENV} prefers {dist} for {name!r}, but {found}")


def _warn(message: str) -> None:
    warnings.warn(message, PluginWarning, stacklevel=3)


def _autoload_disabled() -> bool:
    """True when ``$SWEEPNET_DISABLE_PLUGIN_AUTOLOAD`` is set to anything but "" or "0"."""
    return os.environ.get(AUTOLOAD_ENV, "") not in ("", "0")


def create_plugin_manager(*, autoload: bool | None = None) -> PluginManager:
    """A new manager with the built-in plugins and, unless disabled, the entry-point plugins.

    Parameters
    ----------
    autoload : load the entry points of the group ``sweepnet``; None follows
        ``$SWEEPNET_DISABLE_PLUGIN_AUTOLOAD``.
    """
    manager = PluginManager()
    manager.load_default_plugins()
    if autoload if autoload is not None else not _autoload_disabled():
        manager.load_entrypoint_plugins()
    return manager


@functools.cache
def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, created on first use (lifecycle hooks are called on it)."""
    return create_plugin_manager()


@functools.cache
def get_registries() -> Registries:
    """The process-wide registries, built once per process from :func:`get_plugin_manager`."""
    return get_plugin_manager().build_registries()
