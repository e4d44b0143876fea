"""The sweep loop's bookkeeping, without Ray: asking, skipping, stopping, pruning, retries, resume.

Trials are played by hand: ``driver.start`` / ``report`` / ``finish`` as the Ray loop would call
them, with made-up results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sweepnet import hookimpl
from sweepnet.config import plan_from_text
from sweepnet.driver import SweepDriver
from sweepnet.pluginmanager import PluginManager
from sweepnet.records import TrialResult, TrialState
from sweepnet.search import NoPruner, RandomSearcher

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


def _plan(text=GRID, *overrides):
    """A real plan whose searcher records what it is told."""
    plan = plan_from_text(text, overrides, "toy")
    plan.told = []
    make_searcher = plan.make_searcher

    def spying_searcher():
        searcher = make_searcher()
        tell = searcher.tell

        def recorded(params, value, state):
            plan.told.append((params, value, state))
            tell(params, value, state)

        searcher.tell = recorded
        return searcher

    plan.make_searcher = spying_searcher
    return plan


@dataclass
class Recorder:
    """A plugin that records every lifecycle hook call."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)

    @hookimpl
    def sweepnet_sweep_start(self, sweep):
        self.calls.append(("sweep_start", sweep.resumed))

    @hookimpl
    def sweepnet_trial_start(self, trial):
        self.calls.append(("trial_start", trial.number))

    @hookimpl
    def sweepnet_trial_report(self, trial, epoch, metrics):
        self.calls.append(("trial_report", trial.number, epoch))

    @hookimpl
    def sweepnet_trial_end(self, trial, result):
        self.calls.append(("trial_end", trial.number, result.state))

    @hookimpl
    def sweepnet_sweep_end(self, results):
        self.calls.append(("sweep_end", len(results)))


def _driver(plan=None, history=(), plugin=None):
    """A driver of ``plan`` whose hooks go to ``plugin``; returns it and the calls a Recorder saw."""
    recorder = Recorder()
    manager = PluginManager()
    manager.register(plugin if plugin is not None else recorder)
    plan = plan or _plan()
    driver = SweepDriver(plan, plan.sweep_info(resumed=bool(history)), hook=manager.hook, history=history)
    return driver, recorder.calls


def _result(spec, value, state=TrialState.COMPLETED, epochs=3, weights=None):
    history = [{"epoch": float(epoch), "val_acc": value * epoch / epochs} for epoch in range(1, epochs + 1)]
    return TrialResult(spec.trial_id, state, metrics={"val_acc": value}, history=history, weights=weights)


def _run(driver, spec, value):
    """Play ``spec`` to its end: every epoch reported (until pruned), then its result."""
    driver.start(spec, node="n", worker="w")
    result = _result(spec, value)
    for row in result.history:
        if driver.report(spec.trial_id, int(row["epoch"]), {"val_acc": row["val_acc"]}):
            result = _result(spec, value, TrialState.PRUNED, epochs=int(row["epoch"]))
            break
    driver.finish(spec.trial_id, result)


def _drain(driver):
    specs = []
    while (spec := driver.next_trial()) is not None:
        specs.append(spec)
        _run(driver, spec, spec.params[REG])
    return specs


def test_a_grid_runs_every_point_once_with_the_hooks_in_order():
    driver, calls = _driver()
    driver.begin()
    specs = _drain(driver)
    outcome = driver.close()
    assert [(spec.number, spec.params[REG]) for spec in specs] == [(0, 0.1), (1, 0.2), (2, 0.3), (3, 0.4)]
    assert calls[0] == ("sweep_start", False)
    reports = [("trial_report", 0, epoch) for epoch in (1, 2, 3)]
    assert calls[1:6] == [("trial_start", 0), *reports, ("trial_end", 0, TrialState.COMPLETED)]
    assert calls[-1] == ("sweep_end", 4)
    assert outcome.best[0].params[REG] == 0.4
    assert {(result.node, result.worker) for _, result in outcome.entries} == {("n", "w")}


def test_resume_skips_finished_trials_refeeds_them_and_reruns_the_rest():
    first, _ = _driver()
    specs = [first.next_trial() for _ in range(4)]
    history = [
        (specs[0], _result(specs[0], 0.1)),
        (specs[1], _result(specs[1], 0.0, TrialState.FAILED, epochs=0)),
        (specs[2], TrialResult(specs[2].trial_id, TrialState.RUNNING)),  # the driver died while it ran
    ]
    plan = _plan(GRID, "pruner={name: asha}")
    driver, calls = _driver(plan, history)
    assert [(params, state) for params, _, state in plan.told] == [
        (specs[0].params, TrialState.COMPLETED),
        (specs[1].params, TrialState.FAILED),
    ]
    assert specs[0].trial_id in driver.pruner.rungs._recorded[1]  # its curve reached the pruner
    rerun = _drain(driver)
    assert [(spec.trial_id, spec.number) for spec in rerun] == [(s.trial_id, s.number) for s in specs[2:]]
    outcome = driver.close()
    assert [spec.number for spec, _ in outcome.entries] == [0, 1, 2, 3]
    assert outcome.sweep.resumed and [call[1] for call in calls if call[0] == "trial_start"] == [2, 3]


def test_num_samples_counts_the_refed_trials():
    first, _ = _driver(_plan(RANDOM))
    specs = [first.next_trial() for _ in range(3)]
    history = [(spec, _result(spec, spec.params[REG])) for spec in specs]
    driver, _ = _driver(_plan(RANDOM), history)
    rerun = _drain(driver)
    assert len(rerun) == 2 and {spec.trial_id for spec in rerun}.isdisjoint(spec.trial_id for spec in specs)
    assert (driver.status().total, driver.status().finished) == (5, 5)


def test_the_pruners_decision_stops_a_trial_and_a_retry_does_not_report_twice():
    driver, calls = _driver(_plan(GRID, "pruner={name: asha}"))
    good, other = driver.next_trial(), driver.next_trial()
    _run(driver, good, 0.9)
    driver.start(other)
    assert driver.report(other.trial_id, 1, {"val_acc": 0.9}) is False  # a tie at rung 1 continues
    assert driver.report(other.trial_id, 3, {"val_acc": 0.01}) is False  # the last epoch completes
    third = driver.next_trial()
    driver.start(third)
    assert driver.report(third.trial_id, 1, {"val_acc": 0.0}) is True
    assert driver.lost(third.trial_id, "node died") is True
    assert driver.next_trial() == third  # the retry comes before any new trial
    driver.start(third, node="m", worker="v")
    assert driver.report(third.trial_id, 1, {"val_acc": 0.0}) is True  # the same answer, not judged again
    driver.finish(third.trial_id, _result(third, 0.0, TrialState.PRUNED, epochs=1))
    assert [call for call in calls if call[:2] == ("trial_report", third.number)] == [("trial_report", 2, 1)]
    assert calls.count(("trial_start", third.number)) == 1
    result = {spec.trial_id: result for spec, result in driver.close().entries}[third.trial_id]
    assert (result.state, result.retries, result.node, result.worker) == (TrialState.PRUNED, 1, "m", "v")


class _StopsAtTwoDecidesAtThree(NoPruner):
    """A pruner that stops every trial after epoch 2 but declares that it decides after epoch 3 only."""

    def report(self, trial_id, epoch, value):
        return epoch == 2

    def decision_epochs(self, trial_id):
        return [3]


def test_the_workers_wait_at_the_pruners_decision_epochs_and_a_stop_between_them_holds():
    driver, _ = _driver(_plan(GRID, "pruner={name: asha, grace_period: 1, reduction_factor: 2}"))
    spec = driver.next_trial()
    assert driver.decision_epochs(spec) == frozenset({1, 2})  # ASHA's rungs below 3 epochs
    driver.pruner = _StopsAtTwoDecidesAtThree(metric="val_acc", mode="max", max_epochs=3)
    assert driver.decision_epochs(spec) == frozenset({3})
    driver.start(spec)
    answers = [driver.report(spec.trial_id, epoch, {"val_acc": 0.5}) for epoch in (1, 2, 3)]
    assert answers == [False, True, True]  # the worker asks after epoch 3 only, and hears stop


def test_a_trial_whose_workers_keep_dying_fails_with_the_reason():
    driver, calls = _driver(_plan(GRID, "resources.max_retries=2"))
    spec = driver.next_trial()
    for attempt in range(3):
        if attempt:
            assert driver.next_trial() == spec
        driver.start(spec, node=f"node{attempt}")
        driver.report(spec.trial_id, 1, {"val_acc": 0.5})
        assert driver.lost(spec.trial_id, "ActorDiedError") is (attempt < 2)
    assert driver.active == 0
    [(_, result)] = driver.close().entries
    assert (result.state, result.retries, result.node) == (TrialState.FAILED, 2, "node2")
    assert result.error == "worker lost 3 times: ActorDiedError"
    assert result.history == [{"epoch": 1.0, "val_acc": 0.5}]
    assert ("trial_end", 0, TrialState.FAILED) in calls


def test_a_trial_handed_out_counts_towards_num_samples_and_a_given_back_one_comes_next():
    driver, calls = _driver(_plan(GRID, "search.num_samples=3"))
    assert driver.waiting == 3
    first, second, third = (driver.next_trial() for _ in range(3))
    assert driver.next_trial() is None and driver.waiting == 0 and driver.active == 0
    driver.start(first)
    driver.give_back(second)
    assert driver.waiting == 1 and driver.next_trial() == second
    assert calls == [("trial_start", first.number)]
    for spec in (first, second, third):
        _run(driver, spec, 0.5)
    assert [spec.number for spec, _ in driver.close().entries] == [0, 1, 2]


def test_a_retry_given_back_stays_a_retry_without_spending_another():
    driver, _ = _driver(_plan(GRID, "resources.max_retries=1"))
    spec = driver.next_trial()
    driver.start(spec)
    assert driver.lost(spec.trial_id, "node died") is True
    assert driver.next_trial() == spec  # queued behind another trial, whose worker then died
    driver.give_back(spec)
    assert driver.next_trial() == spec
    _run(driver, spec, 0.5)
    [(_, result)] = driver.close().entries
    assert (result.state, result.retries) == (TrialState.COMPLETED, 1)


def test_a_loss_with_a_trial_queued_behind_spends_no_retry_and_both_then_run_alone():
    driver, _ = _driver(_plan(GRID, "resources.max_retries=1"))
    running, queued, other = (driver.next_trial() for _ in range(3))
    driver.start(running)
    assert not driver.runs_alone(running) and not driver.runs_alone(queued)
    assert driver.lost(running.trial_id, "node died", queued=[queued]) is True
    assert driver.next_trial() == running and driver.next_trial() == queued
    assert driver.runs_alone(running) and driver.runs_alone(queued) and not driver.runs_alone(other)
    driver.start(queued)
    assert driver.lost(queued.trial_id, "node died") is True  # alone, so this loss is its own
    driver.start(running)
    assert driver.lost(running.trial_id, "node died") is True  # its one retry was still unspent
    assert driver.next_trial() == queued
    driver.start(queued)
    assert driver.lost(queued.trial_id, "node died") is False  # its one retry is spent
    for spec in (driver.next_trial(), other):
        _run(driver, spec, 0.5)
    assert not driver.runs_alone(running) and not driver.runs_alone(queued)
    results = {spec.trial_id: result for spec, result in driver.close().entries}
    assert {trial_id: (result.state, result.retries) for trial_id, result in results.items()} == {
        running.trial_id: (TrialState.COMPLETED, 2),
        queued.trial_id: (TrialState.FAILED, 1),
        other.trial_id: (TrialState.COMPLETED, 0),
    }
    assert results[queued.trial_id].error.startswith("worker lost 2 times: ")


def test_kill_all_marks_running_and_waiting_trials_killed():
    driver, calls = _driver()
    running, waiting = driver.next_trial(), driver.next_trial()
    for spec in (running, waiting):
        driver.start(spec)
    driver.report(running.trial_id, 1, {"val_acc": 0.3})
    driver.lost(waiting.trial_id, "gone")
    assert set(driver.kill_all("Ctrl-C")) == {running.trial_id, waiting.trial_id}
    outcome = driver.close(interrupted=True)
    assert outcome.interrupted and {result.state for _, result in outcome.entries} == {TrialState.KILLED}
    assert outcome.entries[0][1].history == [{"epoch": 1.0, "val_acc": 0.3}]
    assert calls.count(("trial_end", 0, TrialState.KILLED)) == 1


def test_only_the_best_trial_keeps_its_weights():
    driver, _ = _driver()
    for value in (0.5, 0.9, 0.7):
        spec = driver.next_trial()
        driver.start(spec)
        driver.finish(spec.trial_id, _result(spec, value, weights={"W": np.full(2, value)}))
    outcome = driver.close()
    assert [result.metrics["val_acc"] for _, result in outcome.entries if result.weights is not None] == [0.9]
    assert outcome.best[1].weights["W"][0] == 0.9


def test_a_failing_hook_is_recorded_and_the_sweep_goes_on():
    class Broken:
        @hookimpl
        def sweepnet_trial_end(self, trial):
            raise OSError("disk full")

    driver, _ = _driver(plugin=Broken())
    specs = _drain(driver)
    outcome = driver.close()
    assert len(specs) == 4 and len(outcome.entries) == 4
    assert outcome.hook_errors == ["sweepnet_trial_end: OSError: disk full"]


def test_a_searcher_repeating_itself_ends_the_sweep():
    plan = _plan(RANDOM, "model.reg={choice: [0.1, 0.2]}", "search.num_samples=null", "search.target=2.0")
    assert sorted(spec.params[REG] for spec in _drain(_driver(plan)[0])) == [0.1, 0.2]


def test_the_target_stops_starting_trials():
    plan = _plan(GRID, "model.reg={grid: [0.9, 0.1, 0.2]}", "search.target=0.8")
    assert [spec.params[REG] for spec in _drain(_driver(plan)[0])] == [0.9]


def test_new_points_after_a_resume_do_not_take_the_numbers_of_refed_trials():
    first, _ = _driver(_plan(RANDOM))
    history = [(spec, _result(spec, 0.5)) for spec in (first.next_trial(), first.next_trial())]
    plan = _plan(RANDOM, "search.num_samples=4")
    # an adaptive searcher's points after a resume differ from the recorded ones
    plan.make_searcher = lambda: RandomSearcher(plan.space, seed=99, metric="val_acc", mode="max")
    assert [spec.number for spec in _drain(_driver(plan, history)[0])] == [2, 3]


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
    plan = _plan(text)
    plan.check(plan.load_dataset())  # each probe changes one parameter: none reaches 20 MB
    driver, calls = _driver(plan)
    driver.begin()
    specs = []
    while (spec := driver.next_trial()) is not None:
        specs.append(spec)
        _run(driver, spec, 0.5)
    outcome = driver.close()
    assert len(specs) == 3 and len(outcome.entries) == 4
    [(spec, result)] = [entry for entry in outcome.entries if entry[1].state is TrialState.FAILED]
    assert spec.params == {"model.hidden_dims": [2000, 2000], "solver.dtype": "float64"}
    assert result.error == (
        "toy: model: fc would have 4,152,010 parameters, 33 MB in float64, more than resources.max_model_mb (20 MB)"
    )
    assert ("trial_start", spec.number) in calls and ("trial_end", spec.number, TrialState.FAILED) in calls
    assert (spec.params, None, TrialState.FAILED) in plan.told
