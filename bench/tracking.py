"""What the MLflow tracker sustains, and what reading a big sweep back costs.

1. The writer's sustained runs/s: trivial trials (start, one epoch's report, end with 64x10
   weights, a random score) pushed through the lifecycle hooks as fast as the driver can, until
   every run is in the store. Sustained = marginal: ``(N2 - N1) / (T(N2) - T(N1))`` for
   ``N1 = 200`` and ``N2 = 1,000`` trials, so the sweep's fixed costs (opening the parent,
   the summary) cancel out. On SQLite, for this checkout and for the baseline commit
   (``--baseline``, default 1cbe795: its ``sweepnet/`` extracted with ``git archive`` and run in
   a subprocess on the same machine; goal: at least 5x); and on ``mlflow server`` over
   PostgreSQL (started here on 127.0.0.1; skipped where PostgreSQL is not installed). Then
   the same trials with a training loss per iteration (``TrialResult.iteration_loss``,
   :data:`ITERATIONS` points each, as a trial of more than 1000 minibatches records), which go
   out with the trial's end as metric rows: their cost is the ratio of the two rates.
2. Reading 3,000 trials back from SQLite: ``read_sweep`` without histories (``sweepnet best``)
   and with them (resume), in this process.
3. The commands on a finished 3,000-trial sweep (a 60 x 50 grid of trivial softmax trials,
   recorded through the lifecycle hooks): ``sweepnet resume SWEEP`` with nothing left to run
   (goal: under 5 s) and ``sweepnet best SWEEP``, each a fresh process, as a user runs them --
   the wall time of the whole command, Python's start included, and its CPU time (which other
   work on the machine hardly moves).

Run::

    .venv/bin/python bench/tracking.py [--baseline 1cbe795] [--skip-server] [--commands-only]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N1, N2 = 200, 1000
ITERATIONS = 1000  # per-iteration loss points of a long trial (the most a trial keeps)
GOAL = 5.0
RESUME_GOAL_S = 5.0
GRID_SWEEP = """\
name: {name}
data: {{name: digits, flatten: true, num_train: 50}}
model: {{name: softmax, reg: {{grid: {regs}}}, learning_rate: {{grid: {rates}}}, num_iters: 1, batch_size: 50}}
search: {{searcher: grid}}
"""
DEFAULT_BASELINE = "1cbe795"  # the commit before the tracker's rework

__all__ = ["main", "push_trials"]


def push_trials(count: int, uri: str, name: str, iterations: int = 0) -> float:
    """Seconds from the first trial's start until ``count`` trivial trials are all in the store;
    ``iterations``: per-iteration loss points of each trial."""
    from sweepnet.records import SweepInfo, TrialSpec

    # the baseline counted a backlog as an outage after flush_timeout: give it all the time it needs
    sweep = SweepInfo(name, {"tracking": {"uri": uri, "flush_timeout": 3600}}, f"name: {name}\n", "val_acc", "max")
    specs = []
    for number in range(count):
        params = {"solver.optim_config.learning_rate": 10.0 ** -(number % 5), "model.reg": number * 1e-4}
        specs.append(TrialSpec(f"{number:040x}", number, params, {"model": {"name": "softmax"}}, seed=number))
    return _record(sweep, specs, iterations)


def _record(sweep, specs: list, iterations: int = 0) -> float:
    """Seconds to record ``specs`` as trivial trials of ``sweep`` through the lifecycle hooks, from the
    first trial's start until every run is in the store."""
    from sweepnet.pluginmanager import create_plugin_manager
    from sweepnet.records import TrialResult, TrialState

    hook = create_plugin_manager(autoload=False).hook
    hook.sweepnet_sweep_prepare(sweep=sweep)
    hook.sweepnet_sweep_start(sweep=sweep)
    rng = np.random.default_rng(0)
    extra = {}
    if iterations:
        steps = np.arange(1, iterations + 1)
        extra["iteration_loss"] = np.column_stack([steps, 2.3 / np.sqrt(steps)]).astype(np.float32)
    results = []
    start = time.perf_counter()
    for spec in specs:
        hook.sweepnet_trial_start(sweep=sweep, trial=spec)
        metrics = {"loss": 2.3, "train_acc": 0.1, "val_acc": float(rng.random()), "lr": 1e-3}
        hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=1, metrics=metrics)
        final = {"val_acc": metrics["val_acc"], "test_acc": 0.1, "train_acc": 0.1, "epochs": 1.0}
        weights = {"W": rng.standard_normal((64, 10))}
        history = [{"epoch": 1.0, **metrics}]
        result = TrialResult(spec.trial_id, TrialState.COMPLETED, final, history, 0.01, weights, **extra)
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
        results.append(result)
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    return time.perf_counter() - start


def sustained(uri_of: Callable[[int], str], python_path: str | None = None, iterations: int = 0) -> float:
    """Marginal runs/s between N1 and N2 trials; each count is a sweep of its own in a fresh process."""
    seconds = {}
    for count in (N1, N2):
        env = {**os.environ, **({"PYTHONPATH": python_path} if python_path else {})}
        code = f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import tracking as bench; "
        extra = f", iterations={iterations}" if iterations else ""  # the baseline predates them
        code += f"print(bench.push_trials({count}, {uri_of(count)!r}, 'bench-{count}'{extra}))"
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tempfile.gettempdir()
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        seconds[count] = float(done.stdout.strip().splitlines()[-1])
    return (N2 - N1) / (seconds[N2] - seconds[N1])


def baseline_tree(commit: str, folder: Path) -> str | None:
    """``sweepnet/`` of ``commit`` under ``folder`` with this checkout's compiled kernels; None without git."""
    if shutil.which("git") is None:
        return None
    archive = subprocess.run(["git", "archive", commit, "sweepnet"], cwd=ROOT, capture_output=True)
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    for built in (ROOT / "sweepnet" / "core").glob("_fastconv*.so"):
        shutil.copy(built, folder / "sweepnet" / "core")
    return str(folder)


def reading(folder: Path) -> tuple[float, float, int]:
    """(seconds without histories, with histories, trials) to read a 3,000-trial sweep from SQLite."""
    from sweepnet.tracking import read_sweep

    uri = f"sqlite:///{folder / 'read.db'}"
    push_trials(3000, uri, "read-3000")
    start = time.perf_counter()
    record = read_sweep("read-3000", uri)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    read_sweep("read-3000", uri, histories=True)
    return plain, time.perf_counter() - start, len(record.entries)


def commands(folder: Path) -> tuple[tuple[float, float], tuple[float, float], int]:
    """((wall, CPU) seconds of ``sweepnet resume`` with nothing left, the same of ``sweepnet best``,
    trials) on a finished 3,000-trial grid sweep in a SQLite store under ``folder``. The CPU
    seconds (the command's user + system time) hardly move with the machine's load; the wall
    time does."""
    from sweepnet.config import plan_from_text
    from sweepnet.search import grid_points

    name, uri = "resume-3000", f"sqlite:///{folder / 'resume.db'}"
    regs, rates = np.geomspace(1e-5, 1.0, 60).tolist(), np.geomspace(1e-4, 1.0, 50).tolist()
    plan = plan_from_text(GRID_SWEEP.format(name=name, regs=regs, rates=rates), [f"tracking.uri={uri}"], "bench")
    sweep = plan.bind(plan.load_dataset().meta).sweep
    _record(sweep, [plan.trial_spec(params, number) for number, params in enumerate(grid_points(plan.space))])
    seconds, outputs = [], []
    for command in (["resume", name], ["best", name]):
        start, cpu = time.perf_counter(), _children_cpu()
        done = subprocess.run(
            [str(Path(sys.executable).with_name("sweepnet")), *command, "--tracking-uri", uri],
            capture_output=True, text=True, cwd=folder, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        seconds.append((time.perf_counter() - start, _children_cpu() - cpu))
        if done.returncode != 0:
            raise RuntimeError(f"sweepnet {' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
        outputs.append(done.stdout)
    trials = len(regs) * len(rates)
    assert f"{trials} trials ({trials} completed)" in outputs[0], outputs[0][-2000:]  # it ran none
    return seconds[0], seconds[1], trials


def _children_cpu() -> float:
    """User + system seconds of this process's ended children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="commit to compare the SQLite writer with")
    parser.add_argument("--skip-server", action="store_true", help="leave out mlflow server on PostgreSQL")
    parser.add_argument("--commands-only", action="store_true", help="only part 3: sweepnet resume and best")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{info['internal_api']} {info.get('architecture', '')}" for info in threadpool_info())
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")  # fmt: skip
    print(
        f"{cpu}, {os.cpu_count()} CPUs, BLAS {blas}; load average {os.getloadavg()[0]:.2f} (other work skews figures)"
    )
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.commands_only:
            verdicts += _writer_and_reading(folder, args)
        (resume, resume_cpu), (best, best_cpu), trials = commands(folder)
        print(f"sweepnet resume, nothing left, {trials} trials: {resume:.2f} s ({resume_cpu:.2f} s CPU); ", end="")
        print(f"sweepnet best: {best:.2f} s ({best_cpu:.2f} s CPU)")
        verdicts.append((f"resume with nothing left < {RESUME_GOAL_S:g} s at {trials} trials", resume < RESUME_GOAL_S))
    for goal, met in verdicts:
        print(f"{'PASS' if met else 'FAIL'}  {goal}")


def _writer_and_reading(folder: Path, args: argparse.Namespace) -> list[tuple[str, bool]]:
    """Parts 1 and 2, printed; their verdicts."""
    verdicts = []
    rate = sustained(lambda count: f"sqlite:///{folder / f'new-{count}.db'}")
    print(f"writer, SQLite, sustained ({N1} -> {N2} trials): {rate:8.1f} runs/s")
    base_folder = folder / "baseline"
    base_folder.mkdir()
    tree = baseline_tree(args.baseline, base_folder)
    if tree is None:
        print(f"  baseline {args.baseline}: not available (no git checkout)")
    else:
        base = sustained(lambda count: f"sqlite:///{folder / f'base-{count}.db'}", tree)
        print(f"  baseline {args.baseline}, same machine:        {base:8.1f} runs/s -> {rate / base:.1f}x")
        verdicts.append((f"SQLite writer >= {GOAL:g}x {args.baseline}", rate / base >= GOAL))
    if not args.skip_server:
        print(_server_rate(folder))
    long = sustained(lambda count: f"sqlite:///{folder / f'iterations-{count}.db'}", iterations=ITERATIONS)
    slower = f"{rate / long:.1f}x slower"
    print(f"writer, SQLite, trials with {ITERATIONS} iteration/loss points: {long:8.1f} runs/s ({slower})")
    plain, full, trials = reading(folder)
    print(f"reading {trials} trials back from SQLite: {plain:.2f} s (best), {full:.2f} s with histories (resume)")
    return verdicts


def _server_rate(folder: Path) -> str:
    """The writer's sustained runs/s to ``mlflow server`` on PostgreSQL, as a line to print."""
    sys.path.insert(0, str(ROOT))
    import pytest

    from tests.tracking.servers import MlflowServer, postgres_database

    try:
        with postgres_database() as database:
            server = MlflowServer(folder, backend=database, workers=2)
            server.start()
            try:
                rate = sustained(lambda count: server.uri)
            finally:
                server.kill()
    except pytest.skip.Exception as skipped:
        return f"writer, mlflow server on PostgreSQL: skipped ({skipped})"
    from sweepnet.tracking.backend import HTTP_WRITERS

    return f"writer, mlflow server on PostgreSQL ({HTTP_WRITERS} parallel writers): {rate:8.1f} runs/s"


if __name__ == "__main__":
    main()
