"""Shared fixtures of the test suite.

Entry-point plugins are NOT loaded automatically in tests (``SWEEPNET_DISABLE_PLUGIN_AUTOLOAD=1``
unless already set), so results do not depend on which plugin packages happen to be installed.
Tests of entry-point loading opt in explicitly (``create_plugin_manager(autoload=True)`` or the
``installed_plugin`` fixture).
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sweepnet.data import Dataset
from sweepnet.plan import SweepPlan
from sweepnet.pluginmanager import AUTOLOAD_ENV, create_plugin_manager, get_plugin_manager, get_registries
from sweepnet.records import TrialResult, TrialSpec
from sweepnet.registry import Registries

os.environ.setdefault(AUTOLOAD_ENV, "1")


@pytest.fixture(scope="session", autouse=True)
def _tracking_store_outside_the_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point MLflow's default store at a temporary SQLite file, so no test writes ``./sweepnet-results``.

    Tests that care about the store set ``tracking.uri`` or ``$MLFLOW_TRACKING_URI`` themselves."""
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
        yield


@pytest.fixture(scope="session")
def builtin_registries() -> Registries:
    """Registries holding only the built-in plugins' components (do not add to them)."""
    return create_plugin_manager(autoload=False).build_registries()


@pytest.fixture
def fresh_plugin_state() -> Iterator[None]:
    """Forget the process-wide plugin manager and registries before and after the test."""
    get_plugin_manager.cache_clear()
    get_registries.cache_clear()
    yield
    get_plugin_manager.cache_clear()
    get_registries.cache_clear()


InstallPlugin = Callable[..., None]


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallPlugin]:
    """Factory that "installs" a small plugin distribution for the duration of the test.

    ``installed_plugin(dist, source, version="1.0", entry_point="plugin")`` writes the module
    ``source`` and a ``.dist-info`` declaring a ``sweepnet`` entry point for it into a directory
    on ``sys.path``, as pip would, so importlib.metadata and the plugin manager find it.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install(dist: str, source: str, *, version: str = "1.0", entry_point: str = "plugin") -> None:
        module = dist.replace("-", "_")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[sweepnet]\n{entry_point} = {module}\n")
        modules.append(module)
        importlib.invalidate_caches()

    yield install
    for module in modules:
        sys.modules.pop(module, None)


RECORDED_SWEEP = """\
name: recorded
seed: 0
data: {{name: digits, flatten: true, standardize: true}}
model:
  name: fc
  hidden_dims: [32]
  normalization: batchnorm
  weight_scale: {{grid: [0.03, 0.1, 0.3]}}
solver: {{update_rule: adam, optim_config: {{learning_rate: 3.0e-2}}, batch_size: 64, num_epochs: 4}}
search: {{searcher: grid}}
tracking: {{uri: "{uri}"}}
"""


@dataclass(frozen=True)
class RecordedSweep:
    """A sweep in a SQLite store: its file, the data set, and ``(spec, result)`` of every trial as it ran."""

    name: str
    uri: str
    path: Path
    dataset: Dataset
    entries: Entries


Entries = list[tuple[TrialSpec, TrialResult]]


def record_through_hooks(
    plan: SweepPlan, count: int = 1, stop: Callable[[int, int], bool] | None = None
) -> tuple[Dataset, Entries]:
    """Run the first ``count`` points of ``plan`` in-process and record them through the tracker's
    hooks exactly as the scheduler calls them; ``stop(number, epoch)`` plays the pruner.

    Returns the data set and ``(spec, result)`` of every trial as it ran.
    """
    from sweepnet.trial import run_trial

    dataset = plan.load_dataset()
    bound = plan.bind(dataset.meta)
    sweep = bound.sweep
    hook = create_plugin_manager(autoload=False).hook
    hook.sweepnet_sweep_start(sweep=sweep)
    searcher, entries = bound.make_searcher(), []
    for number in range(count):
        spec = plan.trial_spec(searcher.ask(), number)
        hook.sweepnet_trial_start(sweep=sweep, trial=spec)

        def report(epoch: int, metrics: dict[str, float], spec: TrialSpec = spec) -> bool:
            hook.sweepnet_trial_report(sweep=sweep, trial=spec, epoch=epoch, metrics=metrics)
            return stop is not None and stop(spec.number, epoch)

        result = run_trial(spec, report, dataset=dataset)
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
        entries.append((spec, result))
    hook.sweepnet_sweep_end(sweep=sweep, results=[result for _, result in entries])
    return dataset, entries


@pytest.fixture
def record_plan() -> Callable[..., tuple[Dataset, Entries]]:
    """:func:`record_through_hooks`, for tests that record a sweep of their own."""
    return record_through_hooks


@pytest.fixture(scope="session")
def recorded_sweep(tmp_path_factory: pytest.TempPathFactory) -> RecordedSweep:
    """Three batchnorm nets on digits, run in-process and recorded through the tracker's hooks;
    the pruner stops trial 1 after its second epoch. Do not modify."""
    from sweepnet.config import load_plan

    folder = tmp_path_factory.mktemp("recorded")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    path = folder / "recorded.yaml"
    path.write_text(RECORDED_SWEEP.format(uri=uri))
    plan = load_plan(path)
    dataset, entries = record_through_hooks(plan, 3, stop=lambda number, epoch: number == 1 and epoch == 2)
    return RecordedSweep(plan.name, uri, path, dataset, entries)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the test process once pytest has reported, without the interpreter's finalization.

    Ray's and gRPC's native threads, left by the tests that start Ray in this process, can crash
    that finalization (a segmentation fault after the summary, exit 139, seen once in CI) and
    turn a passing run into a failing one. Nothing is left to do by then.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(getattr(config, "_sweepnet_exit_status", 0)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._sweepnet_exit_status = exitstatus  # type: ignore[attr-defined]
