"""Plugin layers and optimizers checked where they run, so a broken one is named before it costs anything.

Two places:

- **Before any trial** (``sweepnet validate``, and the pre-flight of ``sweepnet sweep`` and
  ``sweepnet trial``, through ``SweepPlan.check``): :func:`check_sweep_components` runs the
  conformance kit of :mod:`sweepnet.testing` (shapes, float64 gradient checks on tiny inputs,
  dtypes; optimizer step checks) on every third-party layer and optimizer the sweep uses, once per
  process. Built-in components are checked by sweepnet's own test suite instead.
- **On a model's first step**: :class:`FirstStep` checks each layer's output and ``dx`` shapes and
  that finite inputs gave finite values, so a layer that breaks its contract only at the sweep's
  real shapes is named (``model.layers[i]``, its plugin and distribution) instead of surfacing as
  a traceback in the built-in layer after it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepnet.errors import PluginError
from sweepnet.registry import BUILTIN_PROVIDER, Component, UnknownComponentError

if TYPE_CHECKING:
    from sweepnet.registry import Registries
    from sweepnet.schema import TrialSetup

__all__ = [
    "CHECK_CONFIG",
    "ConformanceError",
    "FirstStep",
    "LayerContractError",
    "check_component",
    "check_sweep_components",
    "describe_nonfinite",
    "sweep_components",
]

CHECK_CONFIG = {"learning_rate": 1e-2}
"""The optimizer config of the step checks: a rate at which every sane rule descends within 100 steps."""


class ConformanceError(PluginError):
    """A plugin component a sweep uses fails the conformance kit; names the field, component and plugin."""


class LayerContractError(PluginError):
    """A layer broke its contract while training (a wrong shape, NaN from finite inputs)."""


def check_component(component: Component, config: Mapping[str, Any] | None = None) -> str | None:
    """Run the conformance kit on a layer or optimizer; returns its failure as one line, or None.

    Parameters
    ----------
    component : a registered layer or optimizer.
    config : the optimizer config to step with; :data:`CHECK_CONFIG` by default.
    """
    from sweepnet.testing import check_layer, check_optimizer

    try:
        if component.kind == "layer":
            check_layer(component.obj)
        else:
            check_optimizer(component.obj, {**(config or {}), **CHECK_CONFIG})
    except Exception as err:  # an assertion of the kit, or the plugin's own crash: either names it
        message = " ".join(str(err).split())
        return message if isinstance(err, AssertionError) else f"{type(err).__name__}: {message}"
    return None


@functools.cache
def _cached_problem(component: Component, config: tuple[tuple[str, Any], ...]) -> str | None:
    return check_component(component, dict(config))


def sweep_components(setups: Iterable[TrialSetup], registries: Registries) -> Iterator[tuple[str, Component, dict]]:
    """``(field, component, optimizer config)`` of every layer and optimizer the ``setups`` use,
    each once: the ``solver.update_rule``, and the layers a model lists in its ``layers`` option
    (``model.layers[i]``, as the ``sequential`` model does). Unknown names are skipped (the model
    builder reports them)."""
    seen: set[tuple[str, str]] = set()
    for setup in setups:
        found = [("solver.update_rule", setup.update_rule)]
        for index, spec in enumerate(getattr(setup.model_options, "layers", None) or ()):
            name = spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, dict) else None
            if isinstance(name, str):
                try:
                    found.append((f"model.layers[{index}]", registries.layers.component(name)))
                except UnknownComponentError:
                    continue
        for field, component in found:
            if (component.kind, component.name) not in seen:
                seen.add((component.kind, component.name))
                yield field, component, setup.optim_config


def check_sweep_components(setups: Iterable[TrialSetup], registries: Registries) -> None:
    """Check every third-party layer and optimizer the ``setups`` use (see :func:`sweep_components`).

    Each component is checked once per process (the answer is cached), in well under a second for
    the example shapes of a layer.

    Raises
    ------
    ConformanceError
        for the first that fails, e.g. ``model.layers[1]: layer 'bad' of plugin 'bad' (bad-layers
        0.1) fails the conformance check: ... backward returned dx of shape (3, 6) for x of shape (3, 7)``.
    """
    for field, component, config in sweep_components(setups, registries):
        if component.provider == BUILTIN_PROVIDER:
            continue
        frozen = tuple(sorted((key, value) for key, value in config.items() if _hashable(value)))
        problem = _cached_problem(component, frozen)
        if problem is not None:
            raise ConformanceError(f"{field}: {component.label} fails the conformance check: {problem}")


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class FirstStep:
    """The checks a model runs on each layer during its first forward and backward pass.

    Parameters
    ----------
    where : per layer, how messages name it, e.g. ``"model.layers[1]: layer 'gelu' of plugin
        'extras' (sweepnet-extras 0.1.0)"``.
    """

    def __init__(self, where: list[str]) -> None:
        self.where = where

    def forward(self, index: int, x: np.ndarray, params: Mapping[str, np.ndarray], out: Any, out_shape: tuple) -> None:
        """Layer ``index`` turned ``x: (N, *in_shape)`` into ``out``, which must be ``(N, *out_shape)``
        and finite when ``x`` and ``params`` are."""
        if not isinstance(out, np.ndarray):
            self._fail(index, f"forward returned {type(out).__name__}, not a numpy array")
        if out.shape != (len(x), *out_shape):
            self._fail(
                index,
                f"forward returned shape {out.shape} for input {x.shape}; its init_params promised (N, *{out_shape})",
            )
        if not _finite(out) and _finite(x) and all(_finite(p) for p in params.values()):
            self._fail(index, f"forward returned {describe_nonfinite(out)} from finite inputs and parameters")

    def backward(
        self, index: int, dout: np.ndarray, x_shape: tuple, dx: Any, grads: Any, params: Mapping[str, np.ndarray]
    ) -> None:
        """Layer ``index`` returned ``dx`` (must be shaped like its input ``x_shape``) and ``grads``
        (one per parameter, shaped like it), finite when ``dout`` is."""
        if not isinstance(dx, np.ndarray) or dx.shape != x_shape:
            got = dx.shape if isinstance(dx, np.ndarray) else type(dx).__name__
            self._fail(index, f"backward returned dx of shape {got} for an input of shape {x_shape}")
        if not isinstance(grads, Mapping) or set(grads) != set(params):
            names = sorted(grads) if isinstance(grads, Mapping) else type(grads).__name__
            self._fail(index, f"backward returned grads {names} for params {sorted(params)}")
        for name, grad in grads.items():
            if not isinstance(grad, np.ndarray) or grad.shape != params[name].shape:
                got = grad.shape if isinstance(grad, np.ndarray) else type(grad).__name__
                shape = params[name].shape
                self._fail(index, f"backward returned grads[{name!r}] of shape {got} for a parameter of shape {shape}")
        if _finite(dout):
            for name, value in [("dx", dx), *((f"grads[{k!r}]", g) for k, g in grads.items())]:
                if not _finite(value):
                    nonfinite = describe_nonfinite(value)
                    self._fail(index, f"backward returned {name} with {nonfinite} from a finite upstream gradient")

    def _fail(self, index: int, problem: str) -> None:
        raise LayerContractError(f"{self.where[index]}: {problem} (on the model's first step)")


def _finite(array: np.ndarray) -> bool:
    return bool(np.isfinite(array).all())


def describe_nonfinite(array: np.ndarray) -> str:
    """``"NaN"``, ``"inf"`` or ``"NaN and inf"``: what ``array`` holds that is not finite."""
    kinds = [name for name, test in (("NaN", np.isnan), ("inf", np.isinf)) if test(array).any()]
    return " and ".join(kinds)
