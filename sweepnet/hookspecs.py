"""Every hook a sweepnet plugin can implement.

Plugins implement hooks as functions of the same name marked with :data:`sweepnet.hookimpl`;
a hook implementation may accept any subset of the arguments below. See ``docs/plugins.md``.

Registration hooks are called once per process, when :func:`sweepnet.pluginmanager.get_registries`
first builds the registries (on the driver and in every worker); a third-party plugin whose
registration hook raises is skipped, named in a warning. Lifecycle hooks are called by the
scheduler on the driver only, never inside a trial's worker, each plugin's implementation on its
own (:class:`sweepnet.lifecycle.LifecycleHooks`): one that raises is reported once and disabled
for the rest of the sweep.
"""

from __future__ import annotations

import pluggy

from sweepnet.records import SweepInfo, TrialResult, TrialSpec
from sweepnet.registry import Registry

__all__ = [
    "hookspec",
    "sweepnet_register_datasets",
    "sweepnet_register_layers",
    "sweepnet_register_models",
    "sweepnet_register_optimizers",
    "sweepnet_register_pruners",
    "sweepnet_register_searchers",
    "sweepnet_sweep_end",
    "sweepnet_sweep_history",
    "sweepnet_sweep_prepare",
    "sweepnet_sweep_start",
    "sweepnet_trial_end",
    "sweepnet_trial_report",
    "sweepnet_trial_start",
]

hookspec = pluggy.HookspecMarker("sweepnet")


# --------------------------------------------------------------------------- registration


@hookspec
def sweepnet_register_layers(registry: Registry) -> None:
    """Add layer plugins: ``registry.add("gelu", Gelu)`` with ``Gelu`` a ``sweepnet.layer.Layer`` subclass."""


@hookspec
def sweepnet_register_optimizers(registry: Registry) -> None:
    """Add update rules ``update(w, dw, config=None) -> (next_w, config)``.

    Pass their config keys as a pydantic model: ``registry.add("adamw", adamw, options=AdamWOptions)``.
    """


@hookspec
def sweepnet_register_datasets(registry: Registry) -> None:
    """Add data sets: ``registry.add("spiral", Spiral)`` with ``Spiral`` a ``DatasetPlugin`` subclass."""


@hookspec
def sweepnet_register_models(registry: Registry) -> None:
    """Add models: ``registry.add("mlp", Mlp)`` with ``Mlp`` a ``sweepnet.model.ModelPlugin`` subclass."""


@hookspec
def sweepnet_register_searchers(registry: Registry) -> None:
    """Add search algorithms: ``sweepnet.search.Searcher`` subclasses."""


@hookspec
def sweepnet_register_pruners(registry: Registry) -> None:
    """Add early-stopping rules: ``sweepnet.search.Pruner`` subclasses."""


# --------------------------------------------------------------------------- lifecycle (driver only)


@hookspec
def sweepnet_sweep_prepare(sweep: SweepInfo) -> None:
    """A sweep invocation is about to start: get ready for ``sweepnet_sweep_start`` (slow
    imports, opening a store) without recording anything, since the sweep may still fail to start.

    Called on a thread of its own while Ray starts, once the data set is loaded; an exception
    fails the sweep before any trial starts.
    """


@hookspec
def sweepnet_sweep_start(sweep: SweepInfo) -> None:
    """A sweep invocation starts (also when it resumes; then ``sweep.resumed`` is True)."""


@hookspec
def sweepnet_trial_start(sweep: SweepInfo, trial: TrialSpec) -> None:
    """A trial was handed to a worker."""


@hookspec
def sweepnet_trial_report(sweep: SweepInfo, trial: TrialSpec, epoch: int, metrics: dict[str, float]) -> None:
    """A running trial finished epoch ``epoch`` (1-based) with ``metrics``, e.g. ``{"loss": .., "val_acc": ..}``."""


@hookspec
def sweepnet_trial_end(sweep: SweepInfo, trial: TrialSpec, result: TrialResult) -> None:
    """A trial reached a final state (or was killed); ``result.state`` says which."""


@hookspec(firstresult=True)
def sweepnet_sweep_history(sweep: SweepInfo) -> list[tuple[TrialSpec, TrialResult]] | None:
    """The trials an earlier invocation of this sweep recorded, for ``--resume``.

    Implemented by the plugin that keeps the durable record (the MLflow tracker); the first
    non-None answer wins. Each pair is a trial's spec and its last recorded result (a trial the
    driver lost while it ran comes back RUNNING, and is run again). None: no record is kept.
    """


@hookspec
def sweepnet_sweep_end(sweep: SweepInfo, results: list[TrialResult]) -> None:
    """The sweep invocation ends (finished or interrupted) with the results of its trials."""
