"""Re-running a recorded trial: find it in the tracking store and rebuild what it ran.

``sweepnet trial SWEEP --trial 7`` (or a sweep file plus ``--trial``) uses this::

    replay = recorded_trial("quickstart", "7")       # trial number 7, or a prefix of a trial id
    result = run_trial(replay.spec, dataset=replay.plan.load_dataset())
    history_difference(result.history, replay.recorded_history())   # None: reproduced exactly

The trial's hyperparameters and seed come from its run; the rest of its config from the sweep
file and ``--set`` overrides recorded on the parent run (as ``sweepnet resume`` rebuilds a sweep),
or from the sweep file given instead. Extra overrides fix values on top; a recorded
hyperparameter whose search space an override replaced is dropped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepnet.errors import ConfigError

if TYPE_CHECKING:
    from sweepnet.leaderboard import Entry
    from sweepnet.plan import SweepPlan
    from sweepnet.records import TrialResult, TrialSpec
    from sweepnet.schema import TrialSetup
    from sweepnet.tracking import SweepRecord

__all__ = ["Replay", "config_differences", "history_difference", "recorded_trial", "select_trial"]

_SWEEP_FILE_SUFFIXES = (".yaml", ".yml")


@dataclasses.dataclass(frozen=True)
class Replay:
    """A recorded trial, ready to run again.

    Attributes
    ----------
    plan : the sweep as rebuilt (recorded file and overrides, or the given file) plus the overrides.
    spec : what runs: the recorded hyperparameters resolved in ``plan``, with the recorded seed.
    setup : ``spec``'s validated setup (:meth:`~sweepnet.plan.SweepPlan.trial`).
    recorded, result : the trial as the store holds it (``result.history`` is not read).
    record : the sweep's latest invocation in the store.
    """

    plan: SweepPlan
    spec: TrialSpec
    setup: TrialSetup
    recorded: TrialSpec
    result: TrialResult
    record: SweepRecord

    def recorded_history(self) -> list[dict[str, float]]:
        """The trial's per-epoch metrics as recorded."""
        from sweepnet.tracking import trial_history

        return trial_history(self.record, self.recorded.trial_id)


def recorded_trial(
    source: str, selector: str, overrides: Sequence[str] = (), tracking_uri: str | None = None
) -> Replay:
    """Find trial ``selector`` of a recorded sweep and rebuild its spec.

    Parameters
    ----------
    source : a sweep file (its ``name`` is looked up in the store) or a recorded sweep's name.
    selector : a trial number, or a prefix of a trial id.
    overrides : ``--set`` overrides applied last.
    tracking_uri : the store (default: the file's ``tracking.uri``, ``$MLFLOW_TRACKING_URI``, then
        ``sqlite:///sweepnet-results/mlflow.db``).

    Raises
    ------
    ConfigError
        for a bad file or override, or (naming ``--trial``) a trial that is not there or an
        ambiguous id prefix.
    TrackingError
        for a sweep the store does not hold.
    """
    from sweepnet.config import load_plan, plan_from_text
    from sweepnet.tracking import read_sweep, resolve_tracking_uri, sweep_file

    if Path(source).is_file() or Path(source).suffix in _SWEEP_FILE_SUFFIXES:
        plan = load_plan(source, overrides)
        record = read_sweep(plan.name, resolve_tracking_uri(tracking_uri, plan.tracking_uri))
    else:
        record = read_sweep(source, tracking_uri)  # once: thousands of trials take seconds to list
        uri = [f"tracking.uri={tracking_uri}"] if tracking_uri else []
        plan = plan_from_text(sweep_file(record), [*record.overrides, *uri, *overrides], source=f"sweep {source}")
    recorded, result = select_trial(record.entries, selector, record.name)
    searched = {path for path, _ in plan.space.leaves()}
    params = {path: value for path, value in recorded.params.items() if path in searched}
    try:
        spec, setup = plan.trial(params, recorded.number)
    except ConfigError as err:  # the file or the overrides changed its search space
        reason = f"trial {recorded.number}'s recorded values do not fit {plan.source}: {err}"
        raise ConfigError("--trial", reason) from None
    return Replay(plan, dataclasses.replace(spec, seed=recorded.seed), setup, recorded, result, record)


def select_trial(entries: Sequence[Entry], selector: str, sweep: str) -> Entry:
    """The entry whose trial number is ``selector``, else the one whose trial id starts with it.

    Raises
    ------
    ConfigError
        naming ``--trial``: no such trial, or an id prefix shared by several trials.
    """
    if not selector.strip():
        raise ConfigError("--trial", "give a trial number or the start of a trial id")
    if selector.isdigit():
        for entry in entries:
            if entry[0].number == int(selector):
                return entry
    prefix = selector.lower()
    matches = [entry for entry in entries if entry[0].trial_id.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(f"{spec.trial_id[:12]} (trial {spec.number})" for spec, _ in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        reason = f"{selector!r} is ambiguous in sweep {sweep!r}: the ids of {ids}{more} start with it"
        raise ConfigError("--trial", reason)
    numbers = sorted(spec.number for spec, _ in entries)
    known = f"its trials are numbered {numbers[0]} to {numbers[-1]}" if numbers else "it has no recorded trials"
    raise ConfigError("--trial", f"sweep {sweep!r} has no trial {selector} and no trial id starting with it; {known}")


def history_difference(history: Sequence[dict[str, float]], recorded: Sequence[dict[str, float]]) -> str | None:
    """Where ``history`` first departs from ``recorded`` over the epochs both have, or None.

    Epochs only one of them has are not compared: a re-run goes on past the epoch at which the
    sweep's pruner stopped the trial, or stops earlier when told to. Metrics are compared exactly;
    NaN equals NaN.
    """
    for epoch, (row, old) in enumerate(zip(history, recorded, strict=False), start=1):
        for key in sorted(old.keys() | row.keys()):
            if key not in row or key not in old:
                return f"epoch {epoch}: {key} is {'missing' if key not in row else 'new'}"
            if not _same(row[key], old[key]):
                return f"epoch {epoch}: {key} {row[key]!r}, recorded {old[key]!r}"
    return None


def config_differences(config: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """``"path: value (recorded: value)"`` for every leaf where two trial configs differ."""
    mine, theirs = _leaves(config), _leaves(recorded)
    return [
        f"{path}: {_shown(mine, path)} (recorded: {_shown(theirs, path)})"
        for path in sorted(mine.keys() | theirs.keys())
        if path not in mine or path not in theirs or mine[path] != theirs[path]
    ]


def _shown(leaves: dict[str, Any], path: str) -> str:
    return repr(leaves[path]) if path in leaves else "(not set)"


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {path: value}
    leaves: dict[str, Any] = {}
    for name, item in value.items():
        leaves |= _leaves(item, f"{path}.{name}" if path else str(name))
    return leaves


def _same(value: float, recorded: float) -> bool:
    return value == recorded or (math.isnan(value) and math.isnan(recorded))
