"""The :class:`SweepPlan`: a validated sweep file, and the :class:`BoundPlan` that runs it.

::

    plan = load_plan("quickstart.yaml", overrides=["solver.num_epochs=3"])
    dataset = plan.load_dataset()          # once per sweep
    plan.check(dataset)                    # every probe point's model fits the data
    bound = plan.bind(dataset.meta)        # the metric and mode, known for the data set's task
    searcher, pruner = bound.make_searcher(), bound.make_pruner()
    spec, setup = plan.trial(searcher.ask(), number=0)   # setup: the point validated

Validation happens when the plan is made: the file is parsed, the overrides applied, and every
*probe point* of the search space (each option of every choice, both ends of every range; see
:mod:`sweepnet.probe`) is validated with the schema and the plugins' options, so a space that
holds an invalid value fails before any trial, naming its path. :meth:`SweepPlan.check` then
builds the model of every probe point for the loaded data set. A plan is immutable; binding it
to the data set's meta gives the one object the scheduler, the sweep's rules and the lifecycle
hooks (:class:`~sweepnet.records.SweepInfo`) take the metric and mode from.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast, overload

import numpy as np

from sweepnet.conformance import check_sweep_components
from sweepnet.data import Dataset, DatasetMeta, DataSpec, load_dataset
from sweepnet.errors import ConfigError
from sweepnet.overrides import apply_overrides, parse_override
from sweepnet.pluginmanager import get_registries
from sweepnet.probe import Probe, probe_points
from sweepnet.records import SweepInfo, TrialSpec
from sweepnet.registry import Registries
from sweepnet.schema import (
    METRICS,
    Resources,
    SearchSection,
    SweepConfig,
    Tracking,
    TrialSetup,
    check_plot_params,
    check_values,
    component_at,
    parse_named,
    setup_trial,
)
from sweepnet.search import Mode, Pruner, Searcher, SearchSpace, StopCriteria
from sweepnet.yamlfile import parse_yaml, read_sweep_file

__all__ = ["BoundPlan", "SweepPlan", "load_plan", "plan_from_text", "trial_id_of", "trial_seed_of"]

_SEARCHABLE = ("model", "solver")  # the per-trial sections; everything else is fixed per sweep
_FIXED_REASON = {
    "data": "the data set is loaded once per sweep and shared by every trial",
    "name": "the sweep name is the MLflow experiment",
    "seed": "the sweep seed derives every trial's seed",
}


def load_plan(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), registries: Registries | None = None
) -> SweepPlan:
    """Read, override and validate the sweep file at ``path``.

    Raises
    ------
    ConfigError
        naming the file (and line and column for bad YAML) or ``--set``, and the dotted path of
        the offending value.
    PluginError
        when a plugin itself is broken.
    """
    text = read_sweep_file(path)
    return plan_from_text(text, overrides, source=str(path), registries=registries)


def plan_from_text(
    text: str, overrides: Sequence[str] = (), source: str = "<sweep>", registries: Registries | None = None
) -> SweepPlan:
    """The plan of sweep-file ``text`` with ``overrides`` applied (what ``--resume`` rebuilds from the store).

    Parameters
    ----------
    text : the sweep file as written.
    overrides : ``"path=value"`` strings, applied in order.
    source : the file name, for error messages.
    registries : where components are looked up (default: the process-wide registries).
    """
    raw = parse_yaml(text, source)
    if raw is None:
        raise ConfigError(source, "the sweep file is empty; it needs at least `name` and `model`")
    overrides = tuple(overrides)
    override_paths = [parse_override(item)[0] for item in overrides]
    with _located(source, override_paths):
        if not isinstance(raw, dict):
            raise ConfigError("", f"a sweep file is a mapping of sections (name, data, model, ...), not a {_kind(raw)}")
        raw = apply_overrides(raw, overrides)
        check_values(raw)
        return SweepPlan(
            raw, config_text=text, overrides=overrides, source=source, registries=registries or get_registries()
        )


class SweepPlan:
    """A validated sweep: its search space, searcher, pruner, stopping rules and trial specs.

    Build it with :func:`load_plan` or :func:`plan_from_text`; it is immutable. What depends on the
    optimised metric (searcher, pruner, stop criteria) comes from :meth:`bind`.

    Attributes
    ----------
    name, seed : the sweep's name (MLflow experiment) and seed.
    config : the validated config as plain data, search spaces included, section defaults filled in.
    config_text, overrides, source : the file as written, the ``--set`` overrides, the file name.
    space : the search space over :attr:`config`; its parameters live under ``model`` and ``solver``.
    data_spec : the ``data:`` section.
    search : the ``search:`` section.
    pruner_name, pruner_options : the ``pruner:`` section.
    resources, tracking : the ``resources:`` and ``tracking:`` sections.
    max_epochs : most epochs any trial runs (``solver.num_epochs``; 1 for classic models).
    total_trials : how many trials the sweep starts at most, when known in advance.
    model_names : every model the sweep trains.
    registries : where components are looked up.
    """

    def __init__(
        self,
        raw: dict[str, Any],
        *,
        config_text: str = "",
        overrides: tuple[str, ...] = (),
        source: str = "<sweep>",
        registries: Registries,
    ) -> None:
        self.config_text, self.overrides, self.source, self.registries = config_text, overrides, source, registries
        self._override_paths = [parse_override(item)[0] for item in overrides]
        raw_space = SearchSpace(raw)
        _require_fixed_sections(raw_space)
        self._setups = _validate_probes(raw_space, registries)
        base = self._setups[0][1].config
        self.name, self.seed = base.name, base.seed
        self.data_spec: DataSpec = base.data
        self.search: SearchSection = base.search
        self.resources: Resources = base.resources
        self.tracking: Tracking = base.tracking
        self.config = _with_spaces(base, raw)
        self.space = SearchSpace(self.config)
        check_plot_params(base.plots, self.space.leaves())
        self.max_epochs = max(setup.max_epochs for _, setup in self._setups)
        self.model_names = sorted({setup.model.name for _, setup in self._setups})
        self._metric, self._mode = base.metric, base.mode
        dataset = component_at(registries.datasets, base.data.name, "data.name")
        self._data_options = dataset.parse_options(base.data.options, "data.options")
        self._searcher = component_at(registries.searchers, self.search.searcher, "search.searcher")
        self._searcher_options = self._searcher.parse_options(self.search.options, "search.options")
        pruner, self._pruner_options = parse_named(base.pruner, registries.pruners, "pruner")
        self.pruner_name = pruner.name
        self.pruner_options = {key: value for key, value in base.pruner.items() if key != "name"}
        self._pruner = pruner
        # Dry runs: a grid over a continuous space, or hyperband brackets that do not fit, fail now.
        total = self._make_searcher(self._metric or "val_acc", self._mode or "max").total
        self._make_pruner(self._metric or "val_acc", self._mode or "max")
        self.total_trials = _total_trials(total, self.search)
        self._frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        if "_frozen" in self.__dict__:
            raise AttributeError(f"a SweepPlan is immutable: cannot set {name!r}")
        super().__setattr__(name, value)

    # ------------------------------------------------------------------ binding to the data set

    @overload
    def bind(self, meta: DatasetMeta, *, resumed: bool = False) -> BoundPlan: ...

    @overload
    def bind(self, meta: None, *, resumed: bool = False) -> BoundPlan | None: ...

    def bind(self, meta: DatasetMeta | None, *, resumed: bool = False) -> BoundPlan | None:
        """The plan bound to the data set described by ``meta``, for an invocation (``resumed``).

        The metric is ``metric:``, else ``val_acc`` / ``val_rmse`` by the data set's task; the mode
        ``mode:``, else ``"max"`` for accuracies and ``"min"`` for errors and losses. Without
        ``meta`` (a resume deciding what is left before it loads the data set, which recorded no
        meta) the plan binds only when the file names the metric; None otherwise.
        """
        metric = self._metric or (METRICS[meta.task][0] if meta is not None else None)
        if metric is None:
            return None
        mode = self._mode or ("max" if metric.endswith("acc") else "min")
        info = SweepInfo(self.name, self.config, self.config_text, metric, mode, resumed, self.overrides, meta)
        return BoundPlan(self, info)

    @property
    def tracking_uri(self) -> str | None:
        """``tracking.uri``, or None (then ``$MLFLOW_TRACKING_URI``, then MLflow's default store)."""
        return self.tracking.uri

    # ------------------------------------------------------------------ what the rules build

    def make_searcher(self, metric: str, mode: Mode) -> Searcher:
        """A fresh searcher of ``metric`` over :attr:`space`, seeded with the sweep seed."""
        with _located(self.source, self._override_paths):
            return self._make_searcher(metric, mode)

    def make_pruner(self, metric: str, mode: Mode) -> Pruner:
        """A fresh pruner of ``metric`` over :attr:`max_epochs` epochs."""
        with _located(self.source, self._override_paths):
            return self._make_pruner(metric, mode)

    def trial(self, params: dict[str, Any], number: int) -> tuple[TrialSpec, TrialSetup]:
        """Resolve and validate one point: its spec (hashed to its ``trial_id``, with its seed derived)
        and its validated setup, which a trial run in this process takes as it is.

        Parameters
        ----------
        params : the point, ``{dotted path: value}`` as a searcher hands it out.
        number : 0-based order in which the searcher produced it.

        Raises
        ------
        ConfigError
            for a point that is not in :attr:`space` or whose values are invalid.
        """
        setup = setup_trial(self.space.resolve(params), self.registries)
        config = setup.config.model_dump(mode="json")
        trial_id = trial_id_of(config)
        return TrialSpec(trial_id, number, dict(params), config, trial_seed_of(self.seed, trial_id)), setup

    def trial_spec(self, params: dict[str, Any], number: int) -> TrialSpec:
        """The spec of :meth:`trial`."""
        return self.trial(params, number)[0]

    def check_model_size(self, setup: TrialSetup, meta: DatasetMeta) -> None:
        """Refuse a trial whose model would take more than ``resources.max_model_mb`` for the data
        set ``meta`` describes.

        The probes of :meth:`check` take every option and range end, and all the high ends at
        once, but not every combination: choices of lists, or of dtypes, may still meet in a point
        too large, which fails that one trial (:class:`~sweepnet.rules.SweepRules`).

        Raises
        ------
        ConfigError
            naming ``model`` and the estimated size.
        """
        with _located(self.source, self._override_paths):
            _check_model_size(setup, meta)

    def load_dataset(self) -> Dataset:
        """Load and preprocess the data set (once per sweep, on the driver).

        Raises
        ------
        ConfigError, DataError
            naming the ``data.`` field, or the missing directory and how to download it.
        """
        with _located(self.source, self._override_paths):
            return load_dataset(self.data_spec, self.registries.datasets, self._data_options)

    def check(self, dataset: Dataset) -> None:
        """Check the sweep against the loaded data set, before any trial.

        The metric must be one that trials report for the data set's task, and the model of
        every probe point is built (initialisation only), so a layer stack that does not fit
        the inputs or a loss that does not suit the task is a :class:`ConfigError` now. Before
        that, every third-party layer and optimizer the sweep uses passes the conformance kit, or
        :class:`~sweepnet.conformance.ConformanceError` names it; and before a model is built, its
        parameter memory is estimated from its options and refused above
        ``resources.max_model_mb``, and a batch larger than the training split is refused.
        """
        meta = dataset.meta
        metric = self.bind(meta).metric
        with _located(self.source, self._override_paths):
            if metric not in METRICS[meta.task]:
                raise ConfigError(
                    "metric",
                    f"{metric!r} is not reported for the {meta.task} data set {meta.name!r}; "
                    f"use one of: {', '.join(METRICS[meta.task])}",
                )
            # Before any model is built: a plugin layer that crashes there is named, not a traceback.
            check_sweep_components([setup for _, setup in self._setups], self.registries)
            built: set[str] = set()
            for probe, setup in self._setups:
                with _probing(probe):
                    _check_batch_size(setup, dataset)
                key = json.dumps([setup.config.model, setup.config.solver.dtype], sort_keys=True, default=repr)
                if key not in built:
                    built.add(key)
                    with _probing(probe):
                        _check_model_size(setup, meta)
                        _build_model(setup, meta)

    # ------------------------------------------------------------------ helpers

    def _make_searcher(self, metric: str, mode: str) -> Searcher:
        return self._searcher.obj(self.space, seed=self.seed, metric=metric, mode=mode, options=self._searcher_options)

    def _make_pruner(self, metric: str, mode: str) -> Pruner:
        return self._pruner.obj(metric=metric, mode=mode, max_epochs=self.max_epochs, options=self._pruner_options)


@dataclass(frozen=True)
class BoundPlan:
    """A sweep plan bound to its data set: what the scheduler, the sweep's rules and the lifecycle
    hooks run the sweep by. Made by :meth:`SweepPlan.bind`.

    Attributes
    ----------
    plan : the plan.
    sweep : the invocation as the lifecycle hooks see it: metric, mode, the data set's meta
        (None for a resume deciding before it loads the data set), ``resumed``.
    """

    plan: SweepPlan
    sweep: SweepInfo

    @property
    def metric(self) -> str:
        """The optimised metric, e.g. ``"val_acc"``."""
        return self.sweep.metric

    @property
    def mode(self) -> Mode:
        """``"max"`` or ``"min"``."""
        return cast(Mode, self.sweep.mode)

    @property
    def stop_criteria(self) -> StopCriteria:
        """``num_samples``, ``time_budget_s`` and ``target`` of the ``search:`` section."""
        search = self.plan.search
        return StopCriteria(search.num_samples, search.time_budget_s, search.target, mode=self.mode)

    def make_searcher(self) -> Searcher:
        """A fresh searcher over the plan's space, seeded with the sweep seed."""
        return self.plan.make_searcher(self.metric, self.mode)

    def make_pruner(self) -> Pruner:
        """A fresh pruner of the metric over the plan's ``max_epochs`` epochs."""
        return self.plan.make_pruner(self.metric, self.mode)

    def trial(self, params: dict[str, Any], number: int) -> tuple[TrialSpec, TrialSetup]:
        """The plan's :meth:`~SweepPlan.trial`."""
        return self.plan.trial(params, number)

    def check_model_size(self, setup: TrialSetup) -> None:
        """The plan's :meth:`~SweepPlan.check_model_size` for the bound data set (nothing is
        checked without its meta)."""
        if self.sweep.data_meta is not None:
            self.plan.check_model_size(setup, self.sweep.data_meta)


def trial_id_of(config: dict[str, Any]) -> str:
    """The hash identifying a trial: sha1 of the canonical JSON of its ``data``, ``model`` and
    ``solver`` sections and the sweep ``seed``.

    ``data.data_dir`` is left out (moving the data does not change a trial), and so are
    ``search``, ``pruner``, ``resources``, ``tracking`` and ``name``: a resumed sweep with a new
    budget or pruner still recognises the trials it finished.
    """
    data = {key: value for key, value in config["data"].items() if key != "data_dir"}
    identity = {"data": data, "model": config["model"], "solver": config["solver"], "seed": config["seed"]}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=repr)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def trial_seed_of(sweep_seed: int, trial_id: str) -> int:
    """The seed of trial ``trial_id`` of a sweep seeded ``sweep_seed``, in ``[0, 2**32)``."""
    digest = hashlib.sha256(f"{sweep_seed}:{trial_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _require_fixed_sections(space: SearchSpace) -> None:
    """Search spaces are per trial: only ``model`` and ``solver`` may hold them."""
    for path, _ in space.leaves():
        section = path.split(".")[0].split("[")[0]
        if section not in _SEARCHABLE:
            reason = _FIXED_REASON.get(section, f"{section} is fixed for the whole sweep")
            raise ConfigError(path, f"search spaces are only allowed in model and solver: {reason}")


def _validate_probes(space: SearchSpace, registries: Registries) -> list[tuple[Probe, TrialSetup]]:
    """Validate every probe point of ``space``; returns them with their setups, the base point first."""
    setups = []
    for probe in probe_points(space):
        with _probing(probe):
            setups.append((probe, setup_trial(space.resolve(probe.params), registries)))
    return setups


def _with_spaces(base: SweepConfig, raw: dict[str, Any]) -> dict[str, Any]:
    """The validated base point as plain data, with ``model`` and ``solver`` as written (spaces kept)."""
    config = base.model_dump(mode="json")
    config["model"] = raw["model"]
    solver = raw.get("solver")
    if isinstance(solver, dict):
        config["solver"] = {**config["solver"], **solver}
    elif solver is not None:
        config["solver"] = solver  # the whole section is a space
    return config


def _total_trials(total: int | None, search: SearchSection) -> int | None:
    """At most ``num_samples`` and at most the searcher's ``total``; None when neither bounds it.

    Raises
    ------
    ConfigError
        for a searcher that never runs out of points with no stopping rule: the sweep would run forever.
    """
    bounds = [n for n in (total, search.num_samples) if n is not None]
    if not bounds and search.time_budget_s is None and search.target is None:
        raise ConfigError(
            "search.num_samples",
            f"the {search.searcher} searcher never runs out of points: set search.num_samples, "
            "search.time_budget_s or search.target",
        )
    return min(bounds) if bounds else None


def _check_batch_size(setup: TrialSetup, dataset: Dataset) -> None:
    """Refuse a minibatch larger than the data a trial trains on (it would draw duplicates).

    The Solver's ``solver.batch_size`` for ``"solver"`` models, a classic model's own
    ``batch_size`` option (the linear classifiers) for the others.
    """
    train = len(dataset.X_train)
    if dataset.folds:  # cross-validated trials train on k - 1 folds
        train = min(len(train_idx) for train_idx, _ in dataset.folds)
    size: object  # an option of a classic model may be anything; only an int is checked
    if setup.trainer == "solver":
        field, size = "solver.batch_size", setup.config.solver.batch_size
    else:
        field, size = "model.batch_size", getattr(setup.model_options, "batch_size", None)
    if isinstance(size, int) and size > train:
        raise ConfigError(
            field, f"{size} is larger than the {train} training samples of {dataset.meta.name!r} a trial trains on"
        )


def _check_model_size(setup: TrialSetup, meta: DatasetMeta) -> None:
    """Refuse a model whose parameters would take more than ``resources.max_model_mb`` (estimated
    from its options by ``ModelPlugin.count_params``, nothing allocated)."""
    count = setup.model.obj().count_params(setup.model_options, meta)
    if count is None:
        return
    megabytes = count * np.dtype(setup.config.solver.dtype).itemsize / 1e6
    budget = setup.config.resources.max_model_mb
    if megabytes > budget:
        raise ConfigError(
            "model",
            f"{setup.model.name} would have {count:,} parameters, {megabytes:,.0f} MB in "
            f"{setup.config.solver.dtype}, more than resources.max_model_mb ({budget:g} MB)",
        )


def _build_model(setup: TrialSetup, meta: DatasetMeta) -> None:
    """Build (initialise only) the model of ``setup`` for data described by ``meta``."""
    setup.model.obj().build(setup.model_options, meta, seed=0, dtype=np.dtype(setup.config.solver.dtype))


@contextmanager
def _probing(probe: Probe) -> Iterator[None]:
    """Say which value of which space made a probe point invalid."""
    try:
        yield
    except ConfigError as err:
        value = probe.describe(err.field)
        if not value:
            raise
        raise ConfigError(err.field, f"{err.reason} ({value})") from None


@contextmanager
def _located(source: str, override_paths: list[str]) -> Iterator[None]:
    """Prefix a ConfigError's field with where the value came from: ``--set`` or the file."""
    try:
        yield
    except ConfigError as err:
        if err.field.startswith("--set"):
            raise
        if any(err.field == p or err.field.startswith((f"{p}.", f"{p}[")) for p in override_paths):
            field = f"--set {err.field}"
        else:
            field = f"{source}: {err.field}" if err.field else source
        raise ConfigError(field, err.reason) from None


def _kind(value: Any) -> str:
    return "list" if isinstance(value, list) else type(value).__name__
