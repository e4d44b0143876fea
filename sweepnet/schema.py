"""The schema of a sweep file, and the validation of one resolved point of it.

A sweep file is a mapping of sections::

    name: quickstart
    seed: 0
    data: {name: digits, flatten: true}
    model: {name: fc, hidden_dims: [128], reg: 1.0e-4}
    solver: {update_rule: adam, optim_config: {learning_rate: 1.0e-3}, num_epochs: 10}
    search: {searcher: random, num_samples: 20}
    pruner: {name: asha}

:class:`SweepConfig` describes a file whose search spaces have all been replaced by values (a
*point*); the plan (``sweepnet.plan``) validates every probe point of a sweep with
:func:`setup_trial`. Components are looked up by name in the registries and their options
(``model.*``, ``solver.update_rule`` / ``solver.optim_config``, ``pruner.*``, ``search.options``,
``data.options``) are validated by the component's own ``Options``. Every error is a
:class:`~sweepnet.errors.ConfigError` naming the dotted path of the offending value.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator

from sweepnet.data import DataSpec
from sweepnet.errors import ConfigError
from sweepnet.names import validate_sweep_name
from sweepnet.options import dotted_path, short_repr, validate_options
from sweepnet.registry import Component, Registries, Registry, UnknownComponentError
from sweepnet.search.distributions import Categorical, Distribution
from sweepnet.search.searcher import MAX_TRIALS

__all__ = [
    "DEFAULT_MAX_MODEL_MB",
    "MAX_BATCH_SIZE",
    "MAX_CONCURRENT",
    "MAX_CPUS_PER_TRIAL",
    "MAX_EPOCHS",
    "MAX_FLUSH_TIMEOUT_S",
    "MAX_GPUS_PER_TRIAL",
    "MAX_INTEGER",
    "MAX_MODEL_MB",
    "MAX_RETRIES",
    "MAX_TIME_BUDGET_S",
    "METRICS",
    "PlotsSection",
    "Resources",
    "SearchSection",
    "SolverSection",
    "SweepConfig",
    "Tracking",
    "TrialSetup",
    "check_plot_params",
    "check_values",
    "component_at",
    "parse_named",
    "section_models",
    "setup_trial",
    "validate_model",
]

METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("val_acc", "train_acc", "test_acc", "loss"),
    "regression": ("val_rmse", "train_rmse", "test_rmse", "loss"),
}
"""The metrics a trial reports per task, that a sweep may optimise; the first is the default."""

# Ranges of the numbers of a sweep file (docs/configuration.md lists them). Anything larger is a
# typo or an attack: it would make the driver or a trial allocate or wait without bound.
MAX_INTEGER = 2**63 - 1
"""Largest magnitude of any integer in a sweep file (plugin options included)."""
MAX_BATCH_SIZE = 1_000_000
MAX_EPOCHS = 100_000
MAX_TIME_BUDGET_S = 10_000_000.0
MAX_CPUS_PER_TRIAL = 1024.0
MAX_GPUS_PER_TRIAL = 64.0
MAX_CONCURRENT = 10_000
MAX_RETRIES = 100
DEFAULT_MAX_MODEL_MB = 512.0
"""Default ``resources.max_model_mb``: the largest parameter memory of a model a trial may build."""
MAX_MODEL_MB = 1_000_000.0
MAX_FLUSH_TIMEOUT_S = 86_400.0


class _Section(BaseModel):
    # strict: a quoted "64" or a `true` is not a batch size; YAML already gives numbers their type.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class SolverSection(_Section):
    """``solver:``, the keywords of the classic ``Solver`` (ignored by classic models)."""

    update_rule: str | dict[str, Any] = "sgd"
    optim_config: dict[str, Any] = Field(default_factory=dict)
    lr_decay: float = Field(1.0, gt=0, le=1)
    batch_size: int = Field(100, gt=0, le=MAX_BATCH_SIZE)
    num_epochs: int = Field(10, gt=0, le=MAX_EPOCHS)
    num_train_samples: PositiveInt | None = 1000
    num_val_samples: PositiveInt | None = None
    divergence_factor: float | None = Field(100.0, gt=1)
    dtype: Literal["float32", "float64"] = "float32"


class SearchSection(_Section):
    """``search:``, which searcher proposes the points and when the sweep stops starting trials."""

    searcher: str = "random"
    num_samples: int | None = Field(None, gt=0, le=MAX_TRIALS)
    time_budget_s: float | None = Field(None, gt=0, le=MAX_TIME_BUDGET_S)
    target: float | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class Resources(_Section):
    """``resources:``, what each trial gets from Ray, how often a failed trial is retried, and the
    largest model a trial may build."""

    cpus_per_trial: float = Field(1.0, gt=0, le=MAX_CPUS_PER_TRIAL)
    gpus_per_trial: float = Field(0.0, ge=0, le=MAX_GPUS_PER_TRIAL)
    max_concurrent: int | None = Field(None, gt=0, le=MAX_CONCURRENT)
    max_retries: int = Field(2, ge=0, le=MAX_RETRIES)
    max_model_mb: float = Field(DEFAULT_MAX_MODEL_MB, gt=0, le=MAX_MODEL_MB)


class Tracking(_Section):
    """``tracking:``, where the MLflow tracker records the sweep."""

    uri: str | None = None
    enabled: bool = True
    flush_timeout: float = Field(60.0, gt=0, le=MAX_FLUSH_TIMEOUT_S)


class PlotsSection(_Section):
    """``plots:``, which summary figures the sweep draws: dotted paths of searched parameters
    (checked against the search space by :func:`check_plot_params`)."""

    heatmap: Annotated[list[str], Field(min_length=2, max_length=2)] | None = None
    compare: list[str] | None = None
    against: str | None = None


def check_plot_params(plots: PlotsSection, leaves: Sequence[tuple[str, Distribution]]) -> None:
    """Check that ``plots:`` names searched parameters that suit their figures.

    Parameters
    ----------
    plots : the validated section.
    leaves : ``(path, distribution)`` of every searched parameter (``SearchSpace.leaves()``).

    Raises
    ------
    ConfigError
        naming ``plots.heatmap[i]``, ``plots.compare[i]`` or ``plots.against``: an unknown
        parameter, the same one twice in ``heatmap``, a ``compare`` that is not a ``choice`` or
        ``grid``, an ``against`` whose values are not numbers.
    """
    kinds: dict[str, list[Distribution]] = {}
    for path, distribution in leaves:
        kinds.setdefault(path, []).append(distribution)

    def searched(path: str, field: str) -> list[Distribution]:
        if path not in kinds:
            close = difflib.get_close_matches(path, list(kinds), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                field, f"{path!r} is not a searched parameter; {hint}(searched: {', '.join(kinds) or 'none'})"
            )
        return kinds[path]

    for index, path in enumerate(plots.heatmap or []):
        searched(path, f"plots.heatmap[{index}]")
    if plots.heatmap and plots.heatmap[0] == plots.heatmap[1]:
        raise ConfigError(
            "plots.heatmap[1]", f"the heat map needs two different parameters, got {plots.heatmap[0]!r} twice"
        )
    for index, path in enumerate(plots.compare or []):
        if not any(isinstance(d, Categorical) for d in searched(path, f"plots.compare[{index}]")):
            raise ConfigError(
                f"plots.compare[{index}]", f"{path!r} is a range; compare takes choice or grid parameters"
            )
    if plots.against is not None:
        numeric = all(
            not isinstance(d, Categorical) or all(_is_number(label) for label in d.labels)
            for d in searched(plots.against, "plots.against")
        )
        if not numeric:
            raise ConfigError("plots.against", f"{plots.against!r} takes values that are not numbers")


class SweepConfig(_Section):
    """A whole sweep file, at one point of its search space (no spaces left).

    ``model`` and ``pruner`` are ``{name: <plugin>, <its options>...}``; the options are
    validated by the plugin's ``Options`` in :func:`setup_trial` and :func:`parse_named`.
    """

    name: str
    seed: NonNegativeInt = 0
    data: DataSpec = Field(default_factory=DataSpec)
    model: dict[str, Any]
    solver: SolverSection = Field(default_factory=SolverSection)
    search: SearchSection = Field(default_factory=SearchSection)
    pruner: dict[str, Any] = Field(default_factory=lambda: {"name": "none"})
    metric: str | None = None
    mode: Literal["max", "min"] | None = None
    resources: Resources = Field(default_factory=Resources)
    tracking: Tracking = Field(default_factory=Tracking)
    plots: PlotsSection = Field(default_factory=PlotsSection)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        return validate_sweep_name(name)

    @field_validator("metric")
    @classmethod
    def _reported(cls, metric: str | None) -> str | None:
        known = sorted({name for names in METRICS.values() for name in names})
        if metric is not None and metric not in known:
            close = difflib.get_close_matches(metric, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"{metric!r} is not a metric trials report; {hint}(one of: {', '.join(known)})")
        return metric


@dataclass(frozen=True)
class TrialSetup:
    """One validated point of a sweep, its components looked up.

    Attributes
    ----------
    config : the validated point.
    model : the model component; ``model.obj.trainer`` says how it trains.
    model_options : its validated options (None for a model without options).
    update_rule : the optimizer component (used by ``"solver"`` models only).
    optim_config : the update rule's config: ``solver.optim_config`` merged with the keys of a
        ``solver.update_rule`` mapping (which win), defaults filled in.
    """

    config: SweepConfig
    model: Component
    model_options: BaseModel | None
    update_rule: Component
    optim_config: dict[str, Any]

    @property
    def trainer(self) -> str:
        """``"solver"`` or ``"classic"``."""
        return self.model.obj.trainer

    @property
    def max_epochs(self) -> int:
        """Epochs of this trial when it is not pruned: ``solver.num_epochs``, or 1 for classic models."""
        return self.config.solver.num_epochs if self.trainer == "solver" else 1


def setup_trial(config: Any, registries: Registries) -> TrialSetup:
    """Validate a resolved sweep point and look up its model and update rule.

    Parameters
    ----------
    config : plain data of one point (no search spaces), e.g. ``TrialSpec.config``.
    registries : where components are looked up.

    Raises
    ------
    ConfigError
        naming the dotted path of the first bad value (``solver.batch_size``,
        ``model.hidden_dims[0]``, ``solver.update_rule.momentum`` ...).
    """
    sweep = validate_model(SweepConfig, config)
    model, model_options = parse_named(sweep.model, registries.models, "model")
    solver = sweep.solver
    rule = solver.update_rule
    field = "solver.update_rule"
    rule_keys = {key: value for key, value in rule.items() if key != "name"} if isinstance(rule, dict) else {}
    update_rule = component_at(registries.optimizers, *_name_of(rule, field))
    merged = {**solver.optim_config, **rule_keys}
    try:
        options = update_rule.parse_options(merged, "solver.optim_config")
    except ConfigError as err:
        key = err.field.removeprefix("solver.optim_config.").split(".")[0].split("[")[0]
        if key in rule_keys:  # name the key where the user wrote it
            raise ConfigError(err.field.replace("solver.optim_config", field, 1), err.reason) from None
        raise
    optim_config = options.model_dump() if options is not None else merged
    return TrialSetup(sweep, model, model_options, update_rule, optim_config)


def parse_named(section: str | dict[str, Any], registry: Registry, field: str) -> tuple[Component, BaseModel | None]:
    """Look up ``{name: <component>, <options>...}`` (or just the name) and validate its options.

    Parameters
    ----------
    section : the section as written, e.g. ``{"name": "asha", "grace_period": 2}``.
    registry : where ``name`` is looked up.
    field : the section's dotted path, e.g. ``"pruner"``.
    """
    component = component_at(registry, *_name_of(section, field))
    options = {key: value for key, value in section.items() if key != "name"} if isinstance(section, dict) else {}
    return component, component.parse_options(options, field)


def component_at(registry: Registry, name: str, field: str) -> Component:
    """``registry.component(name)``, an unknown name reported as a :class:`ConfigError` naming ``field``."""
    try:
        return registry.component(name)
    except UnknownComponentError as err:
        raise ConfigError(field, str(err)) from None


def check_values(data: Any, field: str = "") -> None:
    """Refuse numbers no sweep file needs, anywhere in ``data`` (plugin options included).

    Every float must be finite (``.inf`` and ``.nan`` are refused: a ``reg: .inf`` fails every
    trial, a ``cpus_per_trial: .inf`` cannot be scheduled) and every integer at most
    :data:`MAX_INTEGER` in magnitude (a 5,000-digit number is a typo or an attack).

    Parameters
    ----------
    data : plain data as the YAML reader returns it.
    field : dotted path of ``data`` ("" at the top level).

    Raises
    ------
    ConfigError
        naming the dotted path of the first such value.
    """
    stack = [(field, data)]
    while stack:  # no recursion: the reader bounds the depth, but the walk need not rely on it
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((dotted_path(path, [key]), item) for key, item in reversed(value.items()))
        elif isinstance(value, list | tuple):
            stack.extend((dotted_path(path, [i]), item) for i, item in reversed(list(enumerate(value))))
        elif isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(path, f"must be a finite number, got {value!r}")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise ConfigError(
                path, f"{short_repr(value)} is out of range (integers are at most 2**63 - 1 in magnitude)"
            )


def validate_model(model: type[BaseModel], data: Any, field: str = "") -> Any:
    """:func:`~sweepnet.options.validate_options` of a section, which must be a mapping.

    Parameters
    ----------
    model : the pydantic model (a section, or :class:`SweepConfig`).
    data : the values as written.
    field : dotted path of ``data``, prefixed to the path of the bad value ("" at the top level).
    """
    if not isinstance(data, dict):
        what = "a sweep file" if not field else field
        raise ConfigError(field, f"{what} must be a mapping of keys, got {_kind(data)} {data!r}")
    return validate_options(model, data, field)


def section_models() -> dict[str, type[BaseModel]]:
    """The pydantic model of every fixed section: ``{"": SweepConfig, "data": DataSpec, ...}``."""
    return {
        "": SweepConfig,
        "data": DataSpec,
        "solver": SolverSection,
        "search": SearchSection,
        "resources": Resources,
        "tracking": Tracking,
        "plots": PlotsSection,
    }


def _name_of(section: Any, field: str) -> tuple[str, str]:
    """``(name, its dotted path)`` of a ``{name: ..., ...}`` section, or of a bare name string."""
    name = section.get("name") if isinstance(section, dict) else section
    where = f"{field}.name" if isinstance(section, dict) else field
    if not isinstance(name, str):
        raise ConfigError(where, f"required: the registered name of the component, got {short_repr(name)}")
    return name, where


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "nothing"}.get(type(value), f"a {type(value).__name__}")


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)
