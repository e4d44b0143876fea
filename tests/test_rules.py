"""The sweep's rules, without Ray: asking, skipping, stopping, pruning, retries, resume, the
queue and each trial's stage.

Trials are played by hand: ``rules.started`` / ``reported`` / ``ended`` as the Ray loop would call
them, with made-up results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sweepnet import hookimpl
from sweepnet.config import plan_from_text
from sweepnet.plan import BoundPlan
from sweepnet.pluginmanager import PluginManager
from sweepnet.records import TrialResult, TrialState
from sweepnet.rules import SweepRules, TrialStage
from sweepnet.search import NoPruner, RandomSearcher, Searcher

from .recorder import Recorder

GRID = """\
name: toy
metric: val_acc
data: {name: digits, flatten: true}
model: {name: fc, hidden_dims: [8], reg: {grid: [0.1, 0.2, 0.3, 0.4]}}
solver: {num_epochs: 3}
search: {searcher: grid, options: {shuffle: false}}
"""
RANDOM = """\
name: toy
metric: val_acc
data: {name: digits, flatten: true}
model: {name: fc, hidden_dims: [8], reg: {uniform: [0.0, 1.0]}}
solver: {num_epochs: 3}
search: {searcher: random, num_samples: 5}
"""
REG = "model.reg"


@dataclass(frozen=True)
class SpiedPlan(BoundPlan):
    """A real bound plan whose searchers record what they are told (``told``); ``searcher``, when
    given, makes them instead of the plan."""

    told: list[tuple[Any, ...]] = field(default_factory=list)
    searcher: Callable[[], Searcher] | None = None

    def make_searcher(self):
        searcher = self.searcher() if self.searcher is not None else super().make_searcher()
        tell = searcher.tell

        def recorded(params, value, state):
            self.told.append((params, value, state))
            tell(params, value, state)

        searcher.tell = recorded
        return searcher


def _plan(text=GRID, *overrides, meta=None, searcher=None):
    """The plan of ``text`` bound to ``meta`` (None: the file names the metric)."""
    bound = plan_from_text(text, overrides, "toy").bind(meta)
    return SpiedPlan(bound.plan, bound.sweep, searcher=searcher)


def _rules(plan=None, history=(), plugin=None):
    """The rules of ``plan`` whose hooks go to ``plugin``; returns them and the calls a Recorder saw."""
    recorder = Recorder()
    manager = PluginManager()
    manager.register(plugin if plugin is not None else recorder)
    plan = plan or _plan()
    plan = dataclasses.replace(plan, sweep=dataclasses.replace(plan.sweep, resumed=bool(history)))
    return SweepRules(plan, hook=manager.hook, history=history), recorder.calls


def _next(rules, **where):
    """The spec of the next trial handed out, or None."""
    handout = rules.next_trial(**where)
    return None if handout is None else handout.spec


def _result(spec, value, state=TrialState.COMPLETED, epochs=3, weights=None):
    history = [{"epoch": float(epoch), "val_acc": value * epoch / epochs} for epoch in range(1, epochs + 1)]
    return TrialResult(spec.trial_id, state, metrics={"val_acc": value}, history=history, weights=weights)


def _run(rules, spec, value):
    """Play ``spec`` to its end: every epoch reported (until pruned), then its result."""
    rules.started(spec.trial_id, node="n", worker="w")
    result = _result(spec, value)
    for row in result.history:
        if rules.reported(spec.trial_id, int(row["epoch"]), {"val_acc": row["val_acc"]}):
            result = _result(spec, value, TrialState.PRUNED, epochs=int(row["epoch"]))
            break
    rules.ended(spec.trial_id, result)


def _drain(rules):
    specs = []
    while (spec := _next(rules)) is not None:
        specs.append(spec)
        _run(rules, spec, spec.params[REG])
    return specs


def test_a_grid_runs_every_point_once_with_the_hooks_in_order():
    rules, calls = _rules()
    rules.begin()
    specs = _drain(rules)
    outcome = rules.close()
    assert [(spec.number, spec.params[REG]) for spec in specs] == [(0, 0.1), (1, 0.2), (2, 0.3), (3, 0.4)]
    assert calls[0] == ("sweep_start", False)
    reports = [("trial_report", 0, epoch) for epoch in (1, 2, 3)]
    assert calls[1:6] == [("trial_start", 0), *reports, ("trial_end", 0, TrialState.COMPLETED)]
    assert calls[-1] == ("sweep_end", 4)
    assert outcome.best[0].params[REG] == 0.4
    assert {(result.node, result.worker) for _, result in outcome.entries} == {("n", "w")}


def test_resume_skips_finished_trials_refeeds_them_and_reruns_the_rest():
    first, _ = _rules()
    specs = [_next(first) for _ in range(4)]
    history = [
        (specs[0], _result(specs[0], 0.1)),
        (specs[1], _result(specs[1], 0.0, TrialState.FAILED, epochs=0)),
        (specs[2], TrialResult(specs[2].trial_id, TrialState.RUNNING)),  # the driver died while it ran
    ]
    plan = _plan(GRID, "pruner={name: asha}")
    rules, calls = _rules(plan, history)
    assert [(params, state) for params, _, state in plan.told] == [
        (specs[0].params, TrialState.COMPLETED),
        (specs[1].params, TrialState.FAILED),
    ]
    assert specs[0].trial_id in rules.pruner.rungs._recorded[1]  # its curve reached the pruner
    rerun = _drain(rules)
    assert [(spec.trial_id, spec.number) for spec in rerun] == [(s.trial_id, s.number) for s in specs[2:]]
    outcome = rules.close()
    assert [spec.number for spec, _ in outcome.entries] == [0, 1, 2, 3]
    assert outcome.sweep.resumed and [call[1] for call in calls if call[0] == "trial_start"] == [2, 3]


def test_num_samples_counts_the_refed_trials():
    first, _ = _rules(_plan(RANDOM))
    specs = [_next(first) for _ in range(3)]
    history = [(spec, _result(spec, spec.params[REG])) for spec in specs]
    rules, _ = _rules(_plan(RANDOM), history)
    rerun = _drain(rules)
    assert len(rerun) == 2 and {spec.trial_id for spec in rerun}.isdisjoint(spec.trial_id for spec in specs)
    assert (rules.status().total, rules.status().finished) == (5, 5)


def test_the_pruners_decision_stops_a_trial_and_a_retry_does_not_report_twice():
    rules, calls = _rules(_plan(GRID, "pruner={name: asha}"))
    good, other = _next(rules), _next(rules)
    _run(rules, good, 0.9)
    rules.started(other.trial_id)
    assert rules.reported(other.trial_id, 1, {"val_acc": 0.9}) is False  # a tie at rung 1 continues
    assert rules.reported(other.trial_id, 3, {"val_acc": 0.01}) is False  # the last epoch completes
    third = _next(rules)
    rules.started(third.trial_id)
    assert rules.reported(third.trial_id, 1, {"val_acc": 0.0}) is True
    assert rules.worker_lost(third.trial_id, "node died") is True
    assert _next(rules) == third  # the retry comes before any new trial
    rules.started(third.trial_id, node="m", worker="v")
    assert rules.reported(third.trial_id, 1, {"val_acc": 0.0}) is True  # the same answer, not judged again
    rules.ended(third.trial_id, _result(third, 0.0, TrialState.PRUNED, epochs=1))
    assert [call for call in calls if call[:2] == ("trial_report", third.number)] == [("trial_report", 2, 1)]
    assert calls.count(("trial_start", third.number)) == 1
    result = {spec.trial_id: result for spec, result in rules.close().entries}[third.trial_id]
    assert (result.state, result.retries, result.node, result.worker) == (TrialState.PRUNED, 1, "m", "v")


class _StopsAtTwoDecidesAtThree(NoPruner):
    """A pruner that stops every trial after epoch 2 but declares that it decides after epoch 3 only."""

    def report(self, trial_id, epoch, value):
        return epoch == 2

    def decision_epochs(self, trial_id):
        return [3]


def test_the_workers_wait_at_the_pruners_decision_epochs_and_a_stop_between_them_holds():
    rules, _ = _rules(_plan(GRID, "pruner={name: asha, grace_period: 1, reduction_factor: 2}"))
    assert rules.next_trial().decision_epochs == frozenset({1, 2})  # ASHA's rungs below 3 epochs
    rules.pruner = _StopsAtTwoDecidesAtThree(metric="val_acc", mode="max", max_epochs=3)
    handout = rules.next_trial()
    assert handout.decision_epochs == frozenset({3})
    spec = handout.spec
    rules.started(spec.trial_id)
    answers = [rules.reported(spec.trial_id, epoch, {"val_acc": 0.5}) for epoch in (1, 2, 3)]
    assert answers == [False, True, True]  # the worker asks after epoch 3 only, and hears stop


def test_a_trial_whose_workers_keep_dying_fails_with_the_reason():
    rules, calls = _rules(_plan(GRID, "resources.max_retries=2"))
    spec = _next(rules)
    for attempt in range(3):
        if attempt:
            assert _next(rules) == spec
        rules.started(spec.trial_id, node=f"node{attempt}")
        rules.reported(spec.trial_id, 1, {"val_acc": 0.5})
        assert rules.worker_lost(spec.trial_id, "ActorDiedError") is (attempt < 2)
    assert rules.status().running == 0 and rules.record(spec.trial_id).stage is TrialStage.ENDED
    [(_, result)] = rules.close().entries
    assert (result.state, result.retries, result.node) == (TrialState.FAILED, 2, "node2")
    assert result.error == "worker lost 3 times: ActorDiedError"
    assert result.history == [{"epoch": 1.0, "val_acc": 0.5}]
    assert ("trial_end", 0, TrialState.FAILED) in calls


def test_a_trial_handed_out_counts_towards_num_samples_and_a_given_back_one_comes_next():
    rules, calls = _rules(_plan(GRID, "search.num_samples=3"))
    assert rules.waiting == 3
    first, second, third = (_next(rules) for _ in range(3))
    assert _next(rules) is None and rules.waiting == 0 and rules.status().running == 0
    rules.started(first.trial_id)
    rules.given_back(second.trial_id)
    assert rules.waiting == 1 and _next(rules) == second
    assert calls == [("trial_start", first.number)]
    for spec in (first, second, third):
        _run(rules, spec, 0.5)
    assert [spec.number for spec, _ in rules.close().entries] == [0, 1, 2]


def test_a_retry_given_back_stays_a_retry_without_spending_another():
    rules, _ = _rules(_plan(GRID, "resources.max_retries=1"))
    spec = _next(rules)
    rules.started(spec.trial_id)
    assert rules.worker_lost(spec.trial_id, "node died") is True
    assert _next(rules) == spec  # queued behind another trial, whose worker then died
    rules.given_back(spec.trial_id)
    assert _next(rules) == spec
    _run(rules, spec, 0.5)
    [(_, result)] = rules.close().entries
    assert (result.state, result.retries) == (TrialState.COMPLETED, 1)


def test_a_loss_with_a_trial_queued_behind_spends_no_retry_and_both_then_run_alone():
    rules, _ = _rules(_plan(GRID, "resources.max_retries=1"))
    running, queued, other = (_next(rules) for _ in range(3))
    rules.started(running.trial_id)
    alone = lambda spec: rules.record(spec.trial_id).alone  # noqa: E731
    assert not alone(running) and not alone(queued)
    assert rules.worker_lost(running.trial_id, "node died", queued=[queued.trial_id]) is True
    assert _next(rules) == running and _next(rules) == queued
    assert alone(running) and alone(queued) and not alone(other)
    rules.started(queued.trial_id)
    assert rules.worker_lost(queued.trial_id, "node died") is True  # alone, so this loss is its own
    rules.started(running.trial_id)
    assert rules.worker_lost(running.trial_id, "node died") is True  # its one retry was still unspent
    assert _next(rules) == queued
    rules.started(queued.trial_id)
    assert rules.worker_lost(queued.trial_id, "node died") is False  # its one retry is spent
    for spec in (_next(rules), other):
        _run(rules, spec, 0.5)
    assert not alone(running) and not alone(queued)
    results = {spec.trial_id: result for spec, result in rules.close().entries}
    assert {trial_id: (result.state, result.retries) for trial_id, result in results.items()} == {
        running.trial_id: (TrialState.COMPLETED, 2),
        queued.trial_id: (TrialState.FAILED, 1),
        other.trial_id: (TrialState.COMPLETED, 0),
    }
    assert results[queued.trial_id].error.startswith("worker lost 2 times: ")


def test_kill_all_marks_running_and_waiting_trials_killed():
    rules, calls = _rules()
    running, waiting = _next(rules), _next(rules)
    for spec in (running, waiting):
        rules.started(spec.trial_id)
    rules.reported(running.trial_id, 1, {"val_acc": 0.3})
    rules.worker_lost(waiting.trial_id, "gone")
    assert set(rules.kill_all("Ctrl-C")) == {running.trial_id, waiting.trial_id}
    outcome = rules.close(interrupted=True)
    assert outcome.interrupted and {result.state for _, result in outcome.entries} == {TrialState.KILLED}
    assert outcome.entries[0][1].history == [{"epoch": 1.0, "val_acc": 0.3}]
    assert calls.count(("trial_end", 0, TrialState.KILLED)) == 1


def test_only_the_best_trial_keeps_its_weights():
    rules, _ = _rules()
    for value in (0.5, 0.9, 0.7):
        spec = _next(rules)
        rules.started(spec.trial_id)
        rules.ended(spec.trial_id, _result(spec, value, weights={"W": np.full(2, value)}))
    outcome = rules.close()
    assert [result.metrics["val_acc"] for _, result in outcome.entries if result.weights is not None] == [0.9]
    assert outcome.best[1].weights["W"][0] == 0.9


def test_a_failing_hook_is_recorded_and_the_sweep_goes_on():
    class Broken:
        @hookimpl
        def sweepnet_trial_end(self, trial):
            raise OSError("disk full")

    rules, _ = _rules(plugin=Broken())
    specs = _drain(rules)
    outcome = rules.close()
    assert len(specs) == 4 and len(outcome.entries) == 4
    assert outcome.hook_errors == ["sweepnet_trial_end: OSError: disk full"]


def test_a_searcher_repeating_itself_ends_the_sweep():
    plan = _plan(RANDOM, "model.reg={choice: [0.1, 0.2]}", "search.num_samples=null", "search.target=2.0")
    assert sorted(spec.params[REG] for spec in _drain(_rules(plan)[0])) == [0.1, 0.2]


def test_the_target_stops_starting_trials():
    plan = _plan(GRID, "model.reg={grid: [0.9, 0.1, 0.2]}", "search.target=0.8")
    assert [spec.params[REG] for spec in _drain(_rules(plan)[0])] == [0.9]


def test_new_points_after_a_resume_do_not_take_the_numbers_of_refed_trials():
    first, _ = _rules(_plan(RANDOM))
    history = [(spec, _result(spec, 0.5)) for spec in (_next(first), _next(first))]
    # an adaptive searcher's points after a resume differ from the recorded ones
    space = plan_from_text(RANDOM, [], "toy").space
    plan = _plan(
        RANDOM, "search.num_samples=4", searcher=lambda: RandomSearcher(space, seed=99, metric="val_acc", mode="max")
    )
    assert [spec.number for spec in _drain(_rules(plan, history)[0])] == [2, 3]


def test_a_point_above_the_memory_budget_fails_alone_and_the_sweep_goes_on():
    text = """\
name: toy
metric: val_acc
data: {name: digits, flatten: true}
model: {name: fc, hidden_dims: {grid: [[8], [2000, 2000]]}}
solver: {num_epochs: 3, dtype: {grid: [float32, float64]}}
search: {searcher: grid, options: {shuffle: false}}
resources: {max_model_mb: 20}
"""
    loaded = plan_from_text(text, [], "toy")
    dataset = loaded.load_dataset()
    loaded.check(dataset)  # each probe changes one parameter: none reaches 20 MB
    plan = _plan(text, meta=dataset.meta)
    rules, calls = _rules(plan)
    rules.begin()
    specs = []
    while (spec := _next(rules)) is not None:
        specs.append(spec)
        _run(rules, spec, 0.5)
    outcome = rules.close()
    assert len(specs) == 3 and len(outcome.entries) == 4
    [(spec, result)] = [entry for entry in outcome.entries if entry[1].state is TrialState.FAILED]
    assert spec.params == {"model.hidden_dims": [2000, 2000], "solver.dtype": "float64"}
    assert result.error == (
        "toy: model: fc would have 4,152,010 parameters, 33 MB in float64, more than resources.max_model_mb (20 MB)"
    )
    assert ("trial_start", spec.number) in calls and ("trial_end", spec.number, TrialState.FAILED) in calls
    assert (spec.params, None, TrialState.FAILED) in plan.told


# ----------------------------------------------------------------------------- stages and the queue


def test_a_trial_goes_pending_running_retrying_and_ended_with_its_result():
    rules, calls = _rules()
    spec = _next(rules)
    record = rules.record(spec.trial_id)
    assert record.stage is TrialStage.PENDING and not record.live and calls == []
    rules.started(spec.trial_id, node="n", worker="w")
    assert record.stage is TrialStage.RUNNING and record.live and (record.node, record.worker) == ("n", "w")
    assert rules.worker_lost(spec.trial_id, "node died") is True
    assert (record.stage, record.retries, record.charged_losses) == (TrialStage.RETRYING, 1, 1)
    assert rules.status().running == 1 and not rules.done()
    assert _next(rules) == spec and record.stage is TrialStage.PENDING and record.live
    rules.started(spec.trial_id, node="m", worker="v")
    rules.ended(spec.trial_id, _result(spec, 0.5))
    assert record.stage is TrialStage.ENDED and record.result.state is TrialState.COMPLETED
    assert (record.result.node, record.result.retries) == ("m", 1) and rules.status().running == 0


def test_a_new_trial_given_back_is_queued_again_behind_the_retries():
    rules, _ = _rules()
    lost, given, _ = (_next(rules) for _ in range(3))
    rules.started(lost.trial_id)
    rules.given_back(given.trial_id)
    assert rules.record(given.trial_id).stage is TrialStage.QUEUED
    rules.worker_lost(lost.trial_id, "node died")
    assert [_next(rules), _next(rules)] == [lost, given]


def test_a_trial_waits_behind_another_only_while_every_worker_can_get_one():
    rules, _ = _rules()  # four grid points
    running = _next(rules)
    rules.started(running.trial_id)
    assert rules.waiting == 3
    assert _next(rules, behind=running.trial_id, workers=4) is None  # three left for four workers
    queued = _next(rules, behind=running.trial_id, workers=3)
    assert queued is not None and rules.record(queued.trial_id).stage is TrialStage.PENDING
    other = _next(rules)
    rules.started(other.trial_id)
    rules.worker_lost(running.trial_id, "node died", queued=[queued.trial_id])
    assert rules.record(queued.trial_id).stage is TrialStage.QUEUED
    # the two that shared a worker run alone: neither waits behind another, nor has one behind it
    assert _next(rules, behind=other.trial_id, workers=1) is None
    assert _next(rules) == running
    rules.started(running.trial_id)
    assert _next(rules, behind=running.trial_id, workers=1) is None
    assert _next(rules) == queued


def test_done_once_every_trial_has_ended_and_the_searcher_has_none_left():
    rules, _ = _rules(_plan(GRID, "search.num_samples=1"))
    assert not rules.done()  # it asked the searcher, which had one
    spec = _next(rules)
    assert not rules.done()  # handed out, not started
    _run(rules, spec, 0.5)
    assert rules.done()
