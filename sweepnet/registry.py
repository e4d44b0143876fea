"""Named registries of the components plugins provide: layers, optimizers, data sets, models ...

A :class:`Registry` maps names to objects and remembers, for each, which plugin package (and
version) provided it. Registries are filled by the plugin manager through the
``sweepnet_register_*`` hooks; the rest of sweepnet only ever resolves components by name here::

    registries = get_registries()
    conv = registries.layers.get("conv")

A name offered twice never stops anything: the first provider keeps it (unless the user prefers
the other, see :meth:`Registry.include`) and the other is recorded as a :class:`Conflict`. A name
whose plugin broke while registering it resolves to an error naming that plugin.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from sweepnet.errors import ConfigError, PluginError
from sweepnet.options import PluginOptions, validate_options  # re-exported: plugins import them from here

__all__ = [
    "BUILTIN_PROVIDER",
    "Component",
    "Conflict",
    "PluginOptions",
    "Registries",
    "Registry",
    "UnavailableComponentError",
    "UnknownComponentError",
    "canonical_name",
    "validate_options",
]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
BUILTIN_PROVIDER = "sweepnet"
"""The provider credited with sweepnet's own components."""


class UnknownComponentError(PluginError):
    """A name that no plugin registered; the message lists the known names and the closest match.

    Attributes
    ----------
    kind, name : what was looked up.
    available : every registered name of that kind, sorted.
    suggestion : the closest registered name, or None.
    """

    def __init__(self, kind: str, name: str, available: list[str], broken: Sequence[str] = ()) -> None:
        self.kind, self.name, self.available = kind, name, available
        close = difflib.get_close_matches(name, available, n=1)
        self.suggestion = close[0] if close else None
        super().__init__(self._message(broken))

    def _message(self, broken: Sequence[str]) -> str:
        hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else ""
        # The name may belong to a plugin that could not load: say which, or the user hunts for typos.
        maybe = f"; it may come from a plugin that failed to load: {', '.join(broken)}" if broken else ""
        known = ", ".join(self.available) or "none"
        return f"unknown {self.kind} {self.name!r}{hint}{maybe} (available: {known})"


class UnavailableComponentError(UnknownComponentError):
    """A name whose plugin broke while registering it; the message names the plugin and why.

    Attributes
    ----------
    reason : e.g. ``"plugin 'x' of x-layers 1.0 failed: sweepnet_register_layers raised ..."``.
    """

    def __init__(self, kind: str, name: str, available: list[str], reason: str) -> None:
        self.reason = reason
        super().__init__(kind, name, available)

    def _message(self, broken: Sequence[str]) -> str:
        return f"{self.kind} {self.name!r} is unavailable: {self.reason}"


@dataclasses.dataclass(frozen=True)
class Component:
    """One registered object and where it came from.

    Attributes
    ----------
    kind : ``"layer"``, ``"optimizer"``, ``"dataset"``, ``"model"``, ``"searcher"`` or ``"pruner"``.
    name : the name configs refer to it by.
    obj : the registered object (a class, or an update-rule function for optimizers).
    provider, version : the distribution that provided it (``"sweepnet"`` for built-ins).
    options : pydantic model of its config keys, or None when it takes none.
    description : one line for ``sweepnet plugins``.
    plugin : the plugin that registered it (entry-point name, or module of a built-in); ``""``
        when registered outside the plugin manager.
    """

    kind: str
    name: str
    obj: Any
    provider: str
    version: str
    options: type[BaseModel] | None
    description: str
    plugin: str = ""

    @property
    def origin(self) -> str:
        """``"plugin 'extras' (sweepnet-extras 0.1.0)"``, or ``"sweepnet 0.1.0"`` for a built-in:
        who provided it, for messages."""
        source = _label(self.provider, self.version)
        return f"plugin {self.plugin!r} ({source})" if self.plugin and self.provider != BUILTIN_PROVIDER else source

    @property
    def label(self) -> str:
        """``"layer 'gelu' of plugin 'extras' (sweepnet-extras 0.1.0)"``, for messages."""
        return f"{self.kind} {self.name!r} of {self.origin}"

    def parse_options(self, data: Mapping[str, Any], field: str) -> BaseModel | None:
        """Validate the config keys of this component.

        Parameters
        ----------
        data : the keys as the user wrote them.
        field : dotted config path of ``data``, used in errors, e.g. ``"model.layers[2]"``.

        Returns
        -------
        An instance of :attr:`options`, or None for a component without options.

        Raises
        ------
        ConfigError
            naming ``field.<key>`` for an unknown key or a value of the wrong type.
        """
        if self.options is None:
            if data:
                raise ConfigError(f"{field}.{next(iter(data))}", f"{self.kind} {self.name!r} takes no options")
            return None
        return validate_options(self.options, data, field)


@dataclasses.dataclass(frozen=True)
class Conflict:
    """Two providers registered the same name: ``kept`` answers to it, ``skipped`` does not.

    Attributes
    ----------
    kept, skipped : the two components.
    preferred : True when ``kept`` won because the user asked for its provider; False when it
        won by registering first.
    """

    kept: Component
    skipped: Component
    preferred: bool = False

    def __str__(self) -> str:
        how = "is preferred" if self.preferred else "registered it first"
        return f"{self.skipped.label} skipped: the name is taken by {self.kept.origin}, which {how}"


class Registry:
    """Components of one kind, by name.

    Parameters
    ----------
    kind : singular noun used in messages, e.g. ``"layer"``.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._components: dict[str, Component] = {}
        self._provider = ("unknown", "", "")
        self._unavailable: dict[str, str] = {}
        self.conflicts: list[Conflict] = []
        self.broken_plugins: list[str] = []
        """Labels of plugins that failed to load (``"plugin 'x' (x-layers 1.0)"``): an unknown name
        may be theirs (set by the plugin manager)."""

    def add(
        self,
        name: str,
        obj: Any,
        *,
        options: type[BaseModel] | None = None,
        description: str | None = None,
    ) -> None:
        """Register ``obj`` under ``name``.

        Parameters
        ----------
        name : the name configs use; letters, digits, ``_``, ``.`` and ``-``, starting with a letter.
        obj : the component (see ``docs/internals.md`` for what each kind expects).
        options : pydantic model of its config keys, with ``extra="forbid"``; defaults to
            ``obj.Options`` when ``obj`` has one.
        description : one line for ``sweepnet plugins``; defaults to the first line of the docstring.

        A name that is taken already is not an error: the first component keeps it and the
        clash is recorded in :attr:`conflicts` (see :meth:`include`).

        Raises
        ------
        PluginError
            for an invalid name or options model, naming the provider.
        """
        provider, version, plugin = self._provider
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise PluginError(f"{_label(provider, version)} registered an invalid {self.kind} name {name!r}")
        options = options if options is not None else getattr(obj, "Options", None)
        if options is not None and not _forbids_extra(options):
            raise PluginError(
                f"{self.kind} {name!r} of {_label(provider, version)}: its options model must be a pydantic "
                "BaseModel with model_config = ConfigDict(extra='forbid')"
            )
        if description is None:
            description = (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
        self.include(Component(self.kind, name, obj, provider, version, options, description, plugin))

    def include(self, component: Component, *, prefer: str | None = None) -> None:
        """Add an already made ``component``; a clash over its name is recorded, never raised.

        Parameters
        ----------
        component : what to add, credited to its own provider.
        prefer : the provider that should answer to ``component.name`` when two offer it. Without
            it (or when neither is that provider) the component registered first keeps the name.
        """
        first = self._components.get(component.name)
        if first is None:
            self._components[component.name] = component
            self._unavailable.pop(component.name, None)
            return
        prefer = canonical_name(prefer) if prefer is not None else None
        if canonical_name(component.provider) == prefer != canonical_name(first.provider):
            self._components[component.name] = component
            self.conflicts.append(Conflict(component, first, preferred=True))
        else:
            self.conflicts.append(Conflict(first, component, preferred=canonical_name(first.provider) == prefer))

    def merge(self, other: Registry, preferences: Mapping[str, str]) -> None:
        """:meth:`include` every component and conflict of ``other`` (a plugin's own registry).

        Parameters
        ----------
        other : a registry of the same kind.
        preferences : component name -> the provider that should win it.
        """
        self.conflicts.extend(other.conflicts)
        for component in other:
            self.include(component, prefer=preferences.get(component.name))

    def mark_unavailable(self, name: str, reason: str) -> None:
        """Make looking up ``name`` (unless another plugin provides it) fail with ``reason``,
        e.g. ``"plugin 'x' of x 1.0 failed: ..."``: its plugin broke while registering it."""
        if name not in self._components:
            self._unavailable[name] = reason

    def get(self, name: str) -> Any:
        """The object registered as ``name``; raises :class:`UnknownComponentError`."""
        return self.component(name).obj

    def component(self, name: str) -> Component:
        """The :class:`Component` registered as ``name``; raises :class:`UnknownComponentError`."""
        try:
            return self._components[name]
        except KeyError:
            pass
        if name in self._unavailable:
            raise UnavailableComponentError(self.kind, name, self.names(), self._unavailable[name])
        raise UnknownComponentError(self.kind, name, self.names(), self.broken_plugins)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._components)

    @contextmanager
    def providing(self, provider: str, version: str, plugin: str = "") -> Iterator[Registry]:
        """Attribute everything added inside the ``with`` block to ``provider`` ``version``
        (and the plugin named ``plugin``).

        The plugin manager wraps each plugin's registration hook in this.
        """
        previous, self._provider = self._provider, (provider, version, plugin)
        try:
            yield self
        finally:
            self._provider = previous

    def __contains__(self, name: object) -> bool:
        return name in self._components

    def __iter__(self) -> Iterator[Component]:
        return iter(sorted(self._components.values(), key=lambda component: component.name))

    def __len__(self) -> int:
        return len(self._components)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


@dataclasses.dataclass(frozen=True)
class Registries:
    """One :class:`Registry` per kind of component; field ``layers`` is filled by ``sweepnet_register_layers``."""

    layers: Registry = dataclasses.field(default_factory=lambda: Registry("layer"))
    optimizers: Registry = dataclasses.field(default_factory=lambda: Registry("optimizer"))
    datasets: Registry = dataclasses.field(default_factory=lambda: Registry("dataset"))
    models: Registry = dataclasses.field(default_factory=lambda: Registry("model"))
    searchers: Registry = dataclasses.field(default_factory=lambda: Registry("searcher"))
    pruners: Registry = dataclasses.field(default_factory=lambda: Registry("pruner"))

    def items(self) -> Iterator[tuple[str, Registry]]:
        """``(field name, registry)`` pairs in declaration order, e.g. ``("layers", <Registry>)``."""
        for f in dataclasses.fields(self):
            yield f.name, getattr(self, f.name)


def canonical_name(name: str) -> str:
    """A distribution or plugin name compared the way pip does: ``Sweepnet_Extras`` -> ``sweepnet-extras``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _label(provider: str, version: str) -> str:
    """``"sweepnet-extras 0.1.0"``, or just the provider when the version is unknown."""
    return f"{provider} {version}".strip()


def _forbids_extra(options: object) -> bool:
    """True for a pydantic model class that rejects unknown keys."""
    return (
        isinstance(options, type) and issubclass(options, BaseModel) and options.model_config.get("extra") == "forbid"
    )
