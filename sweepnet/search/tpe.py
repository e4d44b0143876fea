"""TPE: Optuna's Tree-structured Parzen Estimator behind the ask/tell interface."""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from sweepnet.records import TrialState
from sweepnet.search.distributions import Categorical, Distribution, Float, Int
from sweepnet.search.searcher import Mode, Searcher
from sweepnet.search.space import SearchSpace

# Optuna is imported where it is used: importing it takes ~0.25 s, which every process that loads
# the plugins (each Ray worker) would pay, though only the driver's searcher needs it.
if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

__all__ = ["TPESearcher"]

_log = logging.getLogger(__name__)


class _OptunaRecord(TypedDict):
    """The keywords of ``optuna.trial.create_trial`` that describe a point."""

    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]


def _optuna_state(state: TrialState) -> optuna.trial.TrialState:
    """The Optuna state of a final sweepnet state."""
    from optuna.trial import TrialState as OptunaState

    states = {
        TrialState.COMPLETED: OptunaState.COMPLETE,
        TrialState.PRUNED: OptunaState.PRUNED,
        # Optuna's convention for a failed or NaN objective: the sampler ignores the trial.
        TrialState.DIVERGED: OptunaState.FAIL,
        TrialState.FAILED: OptunaState.FAIL,
        TrialState.KILLED: OptunaState.FAIL,
    }
    if state not in states:
        raise ValueError(f"tell needs a final trial state, got {state.value}")
    return states[state]


class TPESearcher(Searcher):
    """Bayesian optimisation with Optuna's TPE sampler on an in-memory study.

    Each :meth:`ask` is one Optuna trial whose parameters are suggested define-by-run while
    walking the space, so conditional branches are native. ``constant_liar`` is on, so points
    asked while others are still running do not collapse onto one another. :meth:`tell` also
    takes results this instance never asked (a resumed sweep re-feeds finished trials); those
    outside the current space are skipped with a warning. Pruned trials count as worse than
    every completed one, failed and diverged trials are ignored (Optuna's conventions).
    """

    class Options(BaseModel):
        """Config keys of ``tpe``: passed to ``optuna.samplers.TPESampler``."""

        model_config = ConfigDict(extra="forbid")
        n_startup_trials: int = Field(10, ge=0)
        n_ei_candidates: int = Field(24, ge=1)
        multivariate: bool = False

    def __init__(self, space: SearchSpace, *, seed: int | None = None, metric: str, mode: Mode, **options: Any) -> None:
        import optuna

        super().__init__(space, seed=seed, metric=metric, mode=mode, **options)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "Trial 3 finished ..." line per tell
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True, **self.options.model_dump())
        self._study = optuna.create_study(sampler=sampler, direction="maximize" if mode == "max" else "minimize")
        self._names = _optuna_names(space)
        self._asked: defaultdict[str, list[int]] = defaultdict(list)  # params key -> Optuna trial numbers

    def ask(self) -> dict[str, Any]:
        trial = self._study.ask()

        def suggest(path: str, distribution: Distribution) -> Any:
            name = self._name(path, distribution)
            return _from_optuna(distribution, _suggest(trial, name, _to_optuna(distribution)))

        params = self.space.walk(suggest)
        self._asked[_key(params)].append(trial.number)
        return params

    def tell(self, params: dict[str, Any], value: float | None, state: TrialState) -> None:
        import optuna

        optuna_state = _optuna_state(state)
        if optuna_state is optuna.trial.TrialState.COMPLETE and (value is None or not math.isfinite(value)):
            optuna_state = optuna.trial.TrialState.FAIL
        objective = value if optuna_state is optuna.trial.TrialState.COMPLETE else None
        asked = self._asked.get(_key(params))
        if asked:
            self._study.tell(asked.pop(0), objective, state=optuna_state)
        elif self.space.contains(params):
            self._study.add_trial(
                optuna.trial.create_trial(state=optuna_state, value=objective, **self._record(params))
            )
        else:
            _log.warning("tpe: ignoring a result whose params are not in the search space: %s", params)

    def _name(self, path: str, distribution: Distribution) -> str:
        return self._names[path, _signature(distribution)]

    def _record(self, params: dict[str, Any]) -> _OptunaRecord:
        """Optuna ``params`` and ``distributions`` of a point given as sweepnet params."""
        optuna_params: dict[str, Any] = {}
        distributions: dict[str, BaseDistribution] = {}

        def lookup(path: str, distribution: Distribution) -> Any:
            name = self._name(path, distribution)
            distributions[name] = _to_optuna(distribution)
            optuna_params[name] = _into_optuna(distribution, params[path])
            return params[path]

        self.space.walk(lookup)
        return {"params": optuna_params, "distributions": distributions}


def _optuna_names(space: SearchSpace) -> dict[tuple[str, str], str]:
    """Optuna parameter name of each ``(path, distribution)``.

    Two branches may define the same path with different distributions (a learning rate range
    per optimizer); Optuna requires one distribution per name, so the second gets ``path#1``.
    """
    names: dict[tuple[str, str], str] = {}
    per_path: defaultdict[str, int] = defaultdict(int)
    for path, distribution in space.leaves():
        key = (path, _signature(distribution))
        if key not in names:
            names[key] = path if per_path[path] == 0 else f"{path}#{per_path[path]}"
            per_path[path] += 1
    return names


def _signature(distribution: Distribution) -> str:
    """What identifies a distribution to Optuna (a categorical's branches do not matter)."""
    if isinstance(distribution, Categorical):
        return f"{distribution.keyword}{len(distribution.labels)}:{distribution.labels!r}"
    return repr(distribution)


def _to_optuna(distribution: Distribution) -> BaseDistribution:
    """The Optuna distribution TPE models ``distribution`` with.

    Categoricals are modelled over option indices (labels may be lists). Quantised ranges use
    Optuna's ``step`` on the aligned range, which gives exactly the multiples of ``q``; Optuna has
    no log scale with a step, so ``qloguniform`` is searched as ``loguniform`` then rounded.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, Categorical):
        return CategoricalDistribution(tuple(range(len(distribution.labels))))
    assert isinstance(distribution, Float | Int)
    low, high = distribution.nearest(distribution.low), distribution.nearest(distribution.high)
    if isinstance(distribution, Int):
        return IntDistribution(int(low), int(high), step=distribution.q)
    step = None if distribution.q is None or distribution.log else distribution.q
    return FloatDistribution(low, high, log=distribution.log, step=step)


def _suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step)
    assert isinstance(distribution, FloatDistribution)
    return trial.suggest_float(name, distribution.low, distribution.high, step=distribution.step, log=distribution.log)


def _from_optuna(distribution: Distribution, value: Any) -> Any:
    if isinstance(distribution, Categorical):
        return distribution.labels[value]
    assert isinstance(distribution, Float | Int)
    return distribution.nearest(value)


def _into_optuna(distribution: Distribution, value: Any) -> Any:
    if isinstance(distribution, Categorical):
        return distribution.labels.index(value)
    return value


def _key(params: dict[str, Any]) -> str:
    """A hashable, canonical form of flat params (values may be lists)."""
    return json.dumps(params, sort_keys=True, default=repr)
