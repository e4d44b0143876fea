"""One sweep invocation's record: what each lifecycle event writes, and the summary at the end.

:class:`SweepRecorder` opens the experiment and the parent run when the sweep starts -- the
first write, so a store that cannot be written fails the sweep before any trial -- and then
only queues: a trial's run (tags, params, per-epoch metrics, final metrics, its own start and
end time) goes to the :class:`~sweepnet.tracking.writebehind.WriteBehind` queue.

What is written per trial is what a sweep of thousands needs:

- ``model.npz`` only for a trial that, when it ends, ranks among the :data:`KEPT_MODELS` best
  so far (in a sweep in random order that is about ``KEPT_MODELS * ln(trials)`` trials: some
  40 of 3,000). The sweep's best trial always has one: it was the best when it ended.
- no image: MLflow charts every metric itself. ``curves.png`` is drawn for the
  :data:`CURVE_TRIALS` best trials when the sweep ends.
- the per-iteration training loss (at most 1000 points) as the metric ``iteration/loss``, with
  the trial's end.

The parent run gets the sweep file, its validated config and ``data_meta.json`` when the sweep
starts; the leaderboard, the sweep's figures (``plots/*.png``), ``best_model.npz`` with the
MLflow Model ``model/``, ``best.json`` and ``report.html`` when it ends. The figures and models
are made on the calling thread while the queue drains; the page and ``best.json``, which link
to the trials' runs, are written after every trial's run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import replace
from functools import cache, partial
from typing import TYPE_CHECKING

import yaml

from sweepnet import __version__, leaderboard
from sweepnet.errors import ConfigError
from sweepnet.names import validate_sweep_name
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState
from sweepnet.tracking.backend import RunWrite, open_backend
from sweepnet.tracking.layout import (
    EXPERIMENT_TAGS,
    RUN_STATUS,
    TAG,
    end_tags,
    final_metrics,
    iteration_points,
    metric_key,
    params_of,
    run_name,
    trial_tags,
)
from sweepnet.tracking.models import model_npz, python_model
from sweepnet.tracking.reader import SweepRecord, download, iteration_losses, read_record
from sweepnet.tracking.store import TrackingError, absolute, artifact_location, client, store_errors
from sweepnet.tracking.unwritten import save_unwritten
from sweepnet.tracking.writebehind import WriteBehind

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from sweepnet.data import DatasetMeta
    from sweepnet.report import ReportFigure

__all__ = ["CURVE_TRIALS", "DEFAULT_FLUSH_TIMEOUT", "KEPT_MODELS", "SweepRecorder"]

DEFAULT_FLUSH_TIMEOUT = 60.0  # seconds the final flush waits for a store that makes no progress
KEPT_MODELS = 5
CURVE_TRIALS = 5


class SweepRecorder:
    """The record of one sweep invocation in the store at ``uri``.

    Parameters
    ----------
    sweep : the invocation; ``sweep.resumed`` reuses the latest parent run.
    uri : the tracking store.
    stall_timeout : seconds the final flush waits while the store makes no progress.
    previous : the sweep's record as read for resuming (read here when None and resuming).

    Raises
    ------
    ConfigError
        for a sweep name that cannot be recorded.
    TrackingError
        when the store cannot be opened or written.
    """

    def __init__(
        self, sweep: SweepInfo, uri: str, *, stall_timeout: float, previous: SweepRecord | None = None
    ) -> None:
        try:
            validate_sweep_name(sweep.name)
        except ValueError as err:
            raise ConfigError("name", str(err)) from None
        self.sweep, self.uri, self.stall_timeout = sweep, absolute(uri), stall_timeout
        self.client = client(self.uri)
        self._common_tags = {
            f"{TAG}version": __version__,
            f"{TAG}plugins": json.dumps(_plugin_versions(), sort_keys=True),
        }
        self._run_ids: dict[str, str] = {}  # trial id ("" the parent) -> run id
        self._previous: dict[str, leaderboard.Entry] = {}  # trials of earlier invocations (resume)
        self._entries: dict[str, leaderboard.Entry] = {}  # this invocation's ended trials, without weights
        self._started: dict[str, int] = {}  # trial id -> its start (Unix ms), as the driver saw it
        self._reported: dict[str, set[int]] = {}
        self._best: leaderboard.Entry | None = None  # the best trial so far: the only weights kept
        self._summarised = False  # the parent holds the summary of every trial recorded (resume)
        with store_errors(self.uri):
            self.experiment_id = _experiment(self.client, sweep.name, self.uri)
            self._open_parent(previous)
        self._top = leaderboard.rank(
            [e for e in self._previous.values() if leaderboard.can_rank(e[1], sweep.metric)], sweep.metric, sweep.mode
        )
        self._top = self._top[:KEPT_MODELS]  # the best trials so far: a trial ranking among them keeps its weights
        self._queue = WriteBehind(open_backend(self.client, self.experiment_id, self._run_ids), name=sweep.name)
        config_yaml = yaml.safe_dump(sweep.config, sort_keys=False).encode()
        files = {"sweep.yaml": sweep.config_text.encode(), "config.yaml": config_yaml}
        self._queue.push(RunWrite("", artifacts={**files, **_data_meta_json(sweep.data_meta)}))

    # ----------------------------------------------------------------- lifecycle events (cheap)

    def trial_start(self, trial: TrialSpec) -> None:
        """Queue the trial's run: its params and identifying tags, started now."""
        now = _now_ms()
        self._started[trial.trial_id] = now
        self._reported[trial.trial_id] = set()
        record = RunWrite(trial.trial_id, trial_tags(trial, self._common_tags), params_of(trial), start_ms=now)
        self._queue.push(record, taking=True)

    def trial_report(self, trial: TrialSpec, epoch: int, metrics: dict[str, float]) -> None:
        """Queue one epoch's metrics at ``step=epoch``."""
        stamp = _now_ms()
        self._reported.setdefault(trial.trial_id, set()).add(int(epoch))
        points = [
            (metric_key(key), float(value), stamp, int(epoch)) for key, value in metrics.items() if key != "epoch"
        ]
        self._queue.add_metrics(trial.trial_id, points)

    def trial_end(self, trial: TrialSpec, result: TrialResult) -> None:
        """Queue the trial's end: final metrics, per-iteration loss, tags, model file (when among
        the best), traceback, end time."""
        now = _now_ms()
        started = self._started.pop(trial.trial_id, None)
        reported = self._reported.pop(trial.trial_id, set())
        unreported = [  # epochs the scheduler did not stream (or a trial that ran without reports)
            (metric_key(key), float(value), now, int(row.get("epoch", number)))
            for number, row in enumerate(result.history, start=1)
            if int(row.get("epoch", number)) not in reported
            for key, value in row.items()
            if key != "epoch"
        ]
        tags = end_tags(result)
        artifacts: dict[str, bytes | Callable[[], bytes | None]] = {}
        if result.weights and self._ranks_among_best(trial, result):
            artifacts["model.npz"] = partial(model_npz, self.sweep, trial, result)
            tags[f"{TAG}model"] = "model.npz"
        if result.error:
            artifacts["error.txt"] = result.error.encode()
        end = RunWrite(
            trial.trial_id,
            create=None if started is not None else trial_tags(trial, self._common_tags),
            params={} if started is not None else params_of(trial),
            tags=tags,
            metrics=unreported + final_metrics(result.metrics, now) + iteration_points(result, now),
            artifacts=artifacts,
            status=RUN_STATUS[result.state],
            start_ms=started if started is not None else now - int(result.duration_s * 1000),
            end_ms=now,
        )
        self._queue.end(end)
        self._entries[trial.trial_id] = (trial, replace(result, weights=None))

    def close(self, results: list[TrialResult], *, waiting: Callable[[int], None] | None = None) -> None:
        """Write the summary on the parent run and wait until everything is written.

        ``waiting(runs)`` is called while runs are left to write (the progress display). Ctrl-C
        meanwhile stops waiting: the rest is saved to a file, as when the store makes no progress
        for ``stall_timeout`` seconds.

        Raises
        ------
        TrackingError
            naming the store, the file the unwritten results were saved to, and the command
            that writes them later.
        """
        from sweepnet.interrupt import sigint_flag

        if waiting is not None:  # shown while the summary is made
            waiting(self._queue.pending_runs())
        killed = any(result.state is TrialState.KILLED for result in results)
        if self._entries or not self._summarised:
            for trial_id, png in self._curves():
                self._queue.push(RunWrite(trial_id, artifacts={"curves.png": png}))
            self._queue.push(self._summary("KILLED" if killed else "FINISHED"))
        else:  # a resumed sweep that ran nothing: its summary stands
            self._queue.push(RunWrite("", status="FINISHED", after_all=True))
        with sigint_flag() as interrupted:
            reason = self._queue.drain(self.stall_timeout, waiting=waiting, interrupted=interrupted)
        unwritten, rejected = self._queue.unwritten(), self._queue.rejected
        if not unwritten and not rejected:
            return
        saved = save_unwritten(
            self.uri, self.sweep.name, self.experiment_id, self._run_ids, [*unwritten, *(r for r, _ in rejected)],
            self._queue.error,
        )  # fmt: skip
        later = f"write them to the store with: sweepnet resume {self.sweep.name} --tracking-uri {self.uri}"
        if reason == "interrupted":
            problem = f"interrupted while recording to {self.uri}"
        elif reason is not None:
            problem = f"tracking store {self.uri} made {reason}"
        else:
            problem = f"tracking store {self.uri} rejected {len(rejected)} write(s): {rejected[0][1]}"
        runs = len({record.key for record in unwritten} | {record.key for record, _ in rejected})
        raise TrackingError(f"{problem}; the results of {runs} runs are saved in {saved}; {later}")

    def abandon(self) -> None:
        """Stop writing without flushing (a newer invocation of the same sweep took over)."""
        self._queue.stop(timeout=0)

    # ----------------------------------------------------------------- helpers

    def _open_parent(self, previous: SweepRecord | None) -> None:
        """Create the parent run -- or, resuming, reopen the latest one and learn its trials."""
        sweep = self.sweep
        tags = {
            f"{TAG}kind": "sweep",
            f"{TAG}metric": sweep.metric,
            f"{TAG}mode": sweep.mode,
            f"{TAG}overrides": json.dumps(list(sweep.overrides)),
            **self._common_tags,
        }
        if sweep.resumed and previous is None:
            previous = read_record(self.uri, sweep.name, histories=False, sweep_config=sweep.config)
        if sweep.resumed and previous is not None:
            self.client.update_run(previous.run_id, status="RUNNING")
            from mlflow.entities import RunTag

            self.client.log_batch(previous.run_id, tags=[RunTag(key, value) for key, value in tags.items()])
            self._run_ids[""] = previous.run_id
            self._run_ids.update(previous.run_ids)
            self._previous = {spec.trial_id: (spec, result) for spec, result in previous.entries}
            self._summarised = previous.trials == len(previous.entries)  # it ended with these trials
            return
        parent = self.client.create_run(self.experiment_id, run_name=sweep.name, tags=tags)
        self._run_ids[""] = parent.info.run_id

    def _ranks_among_best(self, trial: TrialSpec, result: TrialResult) -> bool:
        """True when the trial ranks among the :data:`KEPT_MODELS` best so far; keeps the best's weights."""
        entry = (trial, result)
        if not leaderboard.can_rank(result, self.sweep.metric):
            return False
        ranked = leaderboard.rank([*self._top, entry], self.sweep.metric, self.sweep.mode)[:KEPT_MODELS]
        self._top = [(spec, replace(res, weights=None)) for spec, res in ranked]
        if ranked[0][0] is trial:
            self._best = (trial, result)
        return any(spec is trial for spec, _ in ranked)

    def _all_entries(self) -> list[leaderboard.Entry]:
        return list({**self._previous, **self._entries}.values())

    def _curves(self) -> list[tuple[str, bytes]]:
        """``curves.png`` of the best trials of this invocation (drawn now, once)."""
        from sweepnet import plots

        ranked = leaderboard.rank(self._all_entries(), self.sweep.metric, self.sweep.mode)
        best = [
            entry
            for entry in ranked[:CURVE_TRIALS]
            if leaderboard.can_rank(entry[1], self.sweep.metric) and entry[0].trial_id in self._entries
        ]
        drawn = []
        for spec, result in best:
            figure = plots.trial_curves(result.history, run_name(spec))
            if figure is not None:
                drawn.append((spec.trial_id, plots.to_png(figure)))
        return drawn

    def _summary(self, status: str) -> RunWrite:
        """The parent's final write: leaderboard, figures, report, best model and metrics."""
        from sweepnet.report import report_figures

        entries = self._all_entries()
        metric, mode = self.sweep.metric, self.sweep.mode
        artifacts: dict[str, bytes | Callable[[], bytes | None]] = {
            "leaderboard.csv": leaderboard.to_csv(entries, metric, mode).encode(),
            "leaderboard.md": leaderboard.to_markdown(entries, metric, mode).encode(),
        }
        best = leaderboard.best(entries, metric, mode)
        in_memory = self._best if best and self._best and self._best[0].trial_id == best[0].trial_id else None
        figures = report_figures(
            entries,
            self.sweep.config,
            metric,
            mode,
            data_meta=self.sweep.data_meta,
            best_weights=in_memory[1].weights if in_memory else None,
            iteration_loss=partial(iteration_losses, self.uri, dict(self._run_ids)),  # earlier invocations' trials
        )
        artifacts |= {figure.name: figure.png for figure in figures}
        artifacts["report.html"] = partial(self._report, entries, figures, status)
        summary = RunWrite("", tags={f"{TAG}trials": str(len(entries))}, artifacts=artifacts, status=status)
        summary.after_all = True  # the report and best.json name the trials' runs: written after them
        if best is not None:
            spec, result = best
            model: Callable[[], bytes | None]
            if in_memory:
                model = cache(partial(model_npz, self.sweep, *in_memory))
            else:  # the best of an earlier invocation is no longer in memory: copy its run's model.npz
                model = cache(partial(self._download, spec.trial_id, "model.npz"))
            artifacts["best_model.npz"] = model
            artifacts |= python_model(model, self._run_ids[""])
            artifacts["best.json"] = partial(self._best_json, spec, result)
            summary.tags[f"{TAG}best_trial"] = spec.trial_id
            summary.metrics = final_metrics(result.metrics, _now_ms())
        return summary

    def _report(self, entries: list[leaderboard.Entry], figures: list[ReportFigure], status: str) -> bytes:
        """``report.html``, linking every trial to its run in the MLflow UI."""
        from sweepnet.report import build_report, run_links, ui_url

        trials = {trial_id: run_id for trial_id, run_id in self._run_ids.items() if trial_id}
        links = run_links(ui_url(self.uri), self.experiment_id, self._run_ids[""], trials)
        sweep = self.sweep
        page = build_report(
            sweep.name,
            entries,
            sweep.metric,
            sweep.mode,
            figures,
            sweep_text=sweep.config_text,
            overrides=sweep.overrides,
            status=status,
            links=links,
        )
        return page.encode()

    def _best_json(self, spec: TrialSpec, result: TrialResult) -> bytes:
        summary = {
            "trial_id": spec.trial_id,
            "number": spec.number,
            "state": result.state.value,
            "seed": spec.seed,
            "params": spec.params,
            "metrics": result.metrics,
            "run_id": self._run_ids.get(spec.trial_id),
        }
        return json.dumps(summary, indent=2).encode()

    def _download(self, trial_id: str, path: str) -> bytes | None:
        """An artifact of a trial's run (the best model of an earlier invocation)."""
        run_id = self._run_ids.get(trial_id)
        if run_id is None or path not in {info.path for info in self.client.list_artifacts(run_id)}:
            return None
        return download(self.client, run_id, path)


def _experiment(store: MlflowClient, name: str, uri: str) -> str:
    """The id of experiment ``name``, created (or restored) when needed, with the kind tag MLflow's
    UI reads."""
    experiment = store.get_experiment_by_name(name)
    if experiment is None:
        return store.create_experiment(name, artifact_location=artifact_location(uri, name), tags=EXPERIMENT_TAGS)
    if experiment.lifecycle_stage == "deleted":
        store.restore_experiment(experiment.experiment_id)
    for key, value in EXPERIMENT_TAGS.items():
        if experiment.tags.get(key) != value:
            store.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


def _plugin_versions() -> dict[str, str]:
    """provider -> version of every registered component's distribution."""
    from sweepnet.pluginmanager import get_registries

    return {c.provider: c.version for _, registry in get_registries().items() for c in registry}


def _data_meta_json(meta: DatasetMeta | None) -> dict[str, bytes]:
    """``data_meta.json``: the data set's name, task, input shape and classes, which ``sweepnet
    report`` draws the weight pictures with. Not the preprocessing: its statistics are arrays,
    which the model files hold."""
    if meta is None:
        return {}
    fields = {field.name: getattr(meta, field.name) for field in dataclasses.fields(meta)}
    del fields["preprocessing"]
    return {"data_meta.json": json.dumps(fields).encode()}


def _now_ms() -> int:
    return int(time.time() * 1000)
