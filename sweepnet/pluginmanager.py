"""The pluggy plugin manager: built-in plugins, entry-point plugins, and the registries they fill.

Built-in plugins (the modules in :data:`sweepnet.plugins.DEFAULT_PLUGINS`) and third-party ones
(objects named by entry points of the group ``sweepnet``) go through the same hooks. Set
``SWEEPNET_DISABLE_PLUGIN_AUTOLOAD=1`` to skip the entry points (tests, debugging).

A third-party plugin that cannot be imported or is malformed is reported by name (a
:class:`PluginWarning` and a :class:`PluginInfo` with an ``error``) and skipped; the others load.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

import pluggy

from sweepnet import __version__, hookspecs
from sweepnet.errors import PluginError
from sweepnet.plugins import DEFAULT_PLUGINS
from sweepnet.registry import Registries

__all__ = [
    "AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
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
_HOOK_NAMES = [name for name in hookspecs.__all__ if name.startswith("sweepnet_")]


class PluginWarning(UserWarning):
    """An installed plugin failed to load and was skipped."""


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


class InvalidPluginError(PluginError):
    """A plugin's hooks are malformed; ``str(err)`` names the plugin, ``reason`` says what is wrong."""

    def __init__(self, info: PluginInfo, reason: str) -> None:
        self.info, self.reason = info, reason
        super().__init__(f"{info.label}: {reason}")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager for the project ``sweepnet``, knowing where each plugin came from."""

    def __init__(self) -> None:
        super().__init__("sweepnet")
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    @property
    def failures(self) -> list[PluginInfo]:
        """Plugins that were skipped, with the reason."""
        return [info for info in self.infos.values() if info.error is not None]

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
            real one), a ``sweepnet_*`` function missing ``@hookimpl``, hook arguments that do
            not match the spec, or a name already in use.
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
            optional = any(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin)
            if not caller.has_spec() and not optional:
                close = difflib.get_close_matches(caller.name, _HOOK_NAMES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                return f"implements unknown hook {caller.name!r}{hint}"
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
                importlib.import_module(module_name), module_name, provider="sweepnet", version=__version__
            )
        self.register_plugin(Tracker(self), "sweepnet.plugins.tracker", provider="sweepnet", version=__version__)

    def load_entrypoint_plugins(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register the object of every entry point in ``group``; report and skip broken ones."""
        for entry_point in entry_points(group=group):
            self._load_entrypoint(entry_point)

    def _load_entrypoint(self, entry_point: EntryPoint) -> None:
        """Import and register one entry point; on failure record it and warn."""
        dist = entry_point.dist
        provider, version = (dist.name, dist.version) if dist is not None else (entry_point.value, "")
        info = PluginInfo(entry_point.name, provider, version)
        try:
            plugin = entry_point.load()
        except Exception as err:  # a broken third-party plugin must not take the others down
            self._skip(info, f"failed to import {entry_point.value!r}: {type(err).__name__}: {err}")
            return
        try:
            self.register_plugin(plugin, entry_point.name, provider=provider, version=version)
        except InvalidPluginError as err:
            self._skip(info, err.reason)

    def _skip(self, info: PluginInfo, reason: str) -> None:
        """Record that the plugin of ``info`` was skipped, and warn."""
        reason = " ".join(reason.split())
        self.infos[info.name] = PluginInfo(info.name, info.provider, info.version, error=reason)
        warnings.warn(f"sweepnet: {info.label} skipped: {reason}", PluginWarning, stacklevel=4)

    def build_registries(self) -> Registries:
        """Call every ``sweepnet_register_*`` hook into fresh registries.

        Each plugin's components are credited to its provider. A registration hook that raises
        becomes a :class:`PluginError` naming the plugin; a name registered twice raises
        :class:`~sweepnet.registry.DuplicateComponentError` naming both providers.
        """
        registries = Registries()
        for field, registry in registries.items():
            hook = getattr(self.hook, f"sweepnet_register_{field}")
            for impl in hook.get_hookimpls():  # registration order: built-ins first
                info = self.infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, impl.plugin_name, "")
                with registry.providing(info.provider, info.version):
                    try:
                        impl.function(*[{"registry": registry}[arg] for arg in impl.argnames])
                    except PluginError:
                        raise
                    except Exception as err:
                        raise PluginError(f"{info.label}: {hook.name} raised {type(err).__name__}: {err}") from err
        return registries


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
