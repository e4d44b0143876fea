"""Lifecycle hooks called plugin by plugin, so one plugin that raises costs nothing else.

pluggy stops at the first implementation that raises, and calls third-party plugins before the
built-in ones (last registered, first called): a third-party ``sweepnet_trial_end`` that raised
used to keep the MLflow tracker from ever closing the trial's run. :class:`LifecycleHooks` calls
each plugin's implementation on its own instead::

    hooks = LifecycleHooks(get_plugin_manager())      # one per sweep invocation
    hooks.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)

A third-party plugin that raises is reported once (a :class:`~sweepnet.pluginmanager.PluginWarning`
naming the plugin, its distribution, the hook and the error) and disabled for the rest of the
sweep; the others are still called. An exception of a built-in plugin (the tracker) is raised
once every other plugin was called, as the caller decides what it means (e.g. a store that
cannot be opened fails the sweep).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from sweepnet.errors import one_line
from sweepnet.pluginmanager import PluginManager, PluginWarning

if TYPE_CHECKING:
    from pluggy import HookCaller

__all__ = ["LifecycleHooks"]


class LifecycleHooks:
    """The lifecycle hooks of ``manager``'s plugins, each implementation called on its own.

    Call hooks as on pluggy's relay, by keyword: ``hooks.sweepnet_sweep_start(sweep=sweep)``.
    A ``firstresult`` hook (``sweepnet_sweep_history``) returns the first answer that is not None;
    the others return None.

    Parameters
    ----------
    manager : the plugin manager whose registered plugins are called.

    Attributes
    ----------
    errors : one line per plugin disabled so far, e.g. ``"plugin 'notify' (sweepnet-notify 0.2):
        sweepnet_trial_end raised KeyError: 'val_acc'; disabled for the rest of the sweep"``.
    """

    def __init__(self, manager: PluginManager) -> None:
        self._manager = manager
        self._disabled: set[str] = set()
        self.errors: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("sweepnet_"):
            raise AttributeError(name)
        caller: HookCaller = getattr(self._manager.hook, name)

        def call(**kwargs: Any) -> Any:
            return self._call(caller, kwargs)

        call.__name__ = name
        setattr(self, name, call)  # found directly next time: trial reports are frequent
        return call

    def _call(self, caller: HookCaller, kwargs: dict[str, Any]) -> Any:
        firstresult = bool(caller.spec and caller.spec.opts.get("firstresult"))
        builtin_error: BaseException | None = None
        for impl in reversed(caller.get_hookimpls()):  # pluggy's order: the last registered first
            if impl.plugin_name in self._disabled:
                continue
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except (Exception, SystemExit) as err:
                info = self._manager.info(impl.plugin_name)
                if info.builtin:
                    builtin_error = builtin_error or err
                    continue
                self._disable(impl.plugin_name, f"{info.label}: {caller.name} raised {one_line(err)}")
                continue
            if firstresult and result is not None and builtin_error is None:
                return result
        if builtin_error is not None:
            raise builtin_error
        return None

    def _disable(self, plugin_name: str, problem: str) -> None:
        """Stop calling ``plugin_name`` for this sweep; report ``problem`` once."""
        self._disabled.add(plugin_name)
        message = f"{problem}; disabled for the rest of the sweep"
        self.errors.append(message)
        warnings.warn(message, PluginWarning, stacklevel=4)
