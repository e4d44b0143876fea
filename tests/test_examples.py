"""The sweep files of ``examples/``: each validates, runs end to end through the CLI with a tiny
budget, and its one-line switch to the real data set (the comment at ``data:``) is a valid config.

Real data sets are never needed: the CIFAR-only examples are checked against an empty data home
(the data-missing error) and against small files in the real formats, written here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import yaml

from sweepnet.cli import main
from sweepnet.records import TrialState
from sweepnet.tracking import SweepRecord, read_sweep

from .data.formats import write_california, write_cifar, write_mnist

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SWEEP_FILES = sorted(path.name for path in EXAMPLES.glob("*.yaml"))
CIFAR_ONLY = ("features_svm.yaml",)

# A `data:` line that ends in the line to use with the real data set:
#   data: {name: digits, ...}  # CIFAR-10: {name: cifar10, ...}
_SWITCH = re.compile(r"^data: \{.*\}  # [^:{]+: (\{.*\})$", re.MULTILINE)

# Tiny budgets for the smoke runs, on top of the file: a couple of trials of a few epochs.
SMOKE: dict[str, list[str]] = {
    "quickstart.yaml": ["solver.num_epochs=2", "data.num_train=300"],
    "knn_cv.yaml": ["data.num_train=300"],
    "linear_svm.yaml": ["model.num_iters=50"],
    "softmax.yaml": ["model.num_iters=50"],
    "two_layer.yaml": ["solver.num_epochs=2"],
    "update_rules.yaml": ["solver.num_epochs=2", "data.num_train=300"],
    "batchnorm_weight_scale.yaml": ["solver.num_epochs=2", "data.num_train=300"],
    "dropout.yaml": ["solver.num_epochs=2"],
    "convnet.yaml": ["solver.num_epochs=2", "data.num_train=200"],
    "regression.yaml": ["solver.num_epochs=2"],
}
SMOKE_TRIALS = 2

# The generated CIFAR-10: enough images for the examples' own `num_train` / `num_test`.
_CIFAR_BATCH, _CIFAR_TEST = 1100, 500
_CIFAR_OPTIONS = "data.options={num_training: 5000, num_validation: 500, num_test: 500}"
_MNIST_TRAIN, _MNIST_TEST = 60, 20
_MNIST_OPTIONS = "data.options={num_training: 40, num_validation: 20, num_test: 20}"
_TINY_OPTIONS = {"cifar10": _CIFAR_OPTIONS, "mnist": _MNIST_OPTIONS}  # the files hold fewer images than the defaults


def _name(file: str) -> str:
    return yaml.safe_load((EXAMPLES / file).read_text())["name"]


def _real_data_line(file: str) -> str | None:
    """The ``data:`` mapping to use with the real data set, as written in the file's comment."""
    match = _SWITCH.search((EXAMPLES / file).read_text())
    return match[1] if match else None


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray instance for the module: every in-process ``sweepnet sweep`` joins it."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow store for the module (creating a store takes seconds); sweeps differ by name."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def empty_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$SWEEPNET_DATA`` pointing at an empty directory: no downloaded data set is present."""
    home = tmp_path / "data"
    home.mkdir()
    monkeypatch.setenv("SWEEPNET_DATA", str(home))
    return home


@pytest.fixture(scope="module")
def real_format_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home holding small CIFAR-10, MNIST and California housing files in their real formats."""
    home = tmp_path_factory.mktemp("data")
    write_cifar(home / "cifar-10-batches-py", batch=_CIFAR_BATCH, test=_CIFAR_TEST)
    write_mnist(home / "mnist", n_train=_MNIST_TRAIN, n_test=_MNIST_TEST)
    write_california(home / "california_housing")
    return home


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


# --------------------------------------------------------------------------- validate


@pytest.mark.parametrize("file", [f for f in SWEEP_FILES if f not in CIFAR_ONLY])
def test_example_validates_on_its_bundled_data(file, empty_data_home, capsys):
    status, out, err = _run(["validate", str(EXAMPLES / file)], capsys)
    assert status == 0, err
    assert f"{file} is valid" in out


@pytest.mark.parametrize("file", CIFAR_ONLY)
@pytest.mark.parametrize("command", ["validate", "sweep"])
def test_cifar_only_example_without_cifar_says_how_to_download_it(file, command, empty_data_home, capsys):
    status, out, err = _run([command, str(EXAMPLES / file)], capsys)
    missing = f"cifar10: data not found in {empty_data_home / 'cifar-10-batches-py'} (missing data_batch_1)"
    assert status == 2
    assert err.splitlines() == [f"sweepnet: error: {missing}; download it with: sweepnet data download cifar10"]


def test_every_example_but_the_cifar_only_ones_switches_to_real_data_in_one_line():
    switchable = {file for file in SWEEP_FILES if _real_data_line(file)}
    assert switchable == set(SWEEP_FILES) - set(CIFAR_ONLY)


@pytest.mark.parametrize("file", [f for f in SWEEP_FILES if f not in CIFAR_ONLY])
def test_the_real_data_line_validates_on_files_in_the_real_format(file, real_format_home, capsys):
    line = _real_data_line(file)
    name = yaml.safe_load(line)["name"]
    overrides = [f"data={line}", f"data.data_dir={real_format_home}"]
    overrides += [options] if (options := _TINY_OPTIONS.get(name)) else []
    sets = [arg for override in overrides for arg in ("--set", override)]
    status, out, err = _run(["validate", str(EXAMPLES / file), *sets], capsys)
    assert status == 0, err
    assert f"data        {name}:" in out


# --------------------------------------------------------------------------- end to end


def _sweep(file: str, overrides: list[str], uri: str, capsys: pytest.CaptureFixture[str]) -> SweepRecord:
    """Run ``sweepnet sweep`` on the example with a tiny budget and ``overrides``; check that its
    trials completed; return the sweep as the tracking store holds it."""
    sets = [arg for override in [f"search.num_samples={SMOKE_TRIALS}", *overrides] for arg in ("--set", override)]
    run_options = ["--tracking-uri", uri, "--max-concurrent", "2"]
    status, out, err = _run(["sweep", str(EXAMPLES / file), *sets, *run_options], capsys)
    assert status == 0, err
    assert "best: trial" in out
    names = [override.removeprefix("name=") for override in overrides if override.startswith("name=")]
    record = read_sweep(names[-1] if names else _name(file), uri)
    test_metric = record.metric.replace("val_", "test_", 1)  # what the best trial is judged by in the end
    assert record.status == "FINISHED"
    assert [result.state for _, result in record.entries] == [TrialState.COMPLETED] * SMOKE_TRIALS
    assert all(test_metric in result.metrics for _, result in record.entries)
    return record


@pytest.mark.parametrize("file", sorted(SMOKE))
def test_example_runs_end_to_end_with_a_tiny_budget(file, tracking_uri, capsys):
    _sweep(file, SMOKE[file], tracking_uri, capsys)


def test_every_example_has_a_smoke_run():
    assert set(SMOKE) | set(CIFAR_ONLY) == set(SWEEP_FILES)


_TINY_CIFAR = [_CIFAR_OPTIONS, "data.num_train=100", "data.num_val=50", "data.num_test=50"]


def test_features_svm_runs_on_cifar10_files(real_format_home, tracking_uri, capsys):
    overrides = [f"data.data_dir={real_format_home}", *_TINY_CIFAR, "model.num_iters=50"]
    _sweep("features_svm.yaml", overrides, tracking_uri, capsys)


def test_convnet_runs_on_cifar10_files(real_format_home, tracking_uri, capsys):
    overrides = ["data.name=cifar10", f"data.data_dir={real_format_home}", *_TINY_CIFAR, "solver.num_epochs=1"]
    record = _sweep("convnet.yaml", [*overrides, "name=convnet-cifar10"], tracking_uri, capsys)
    assert {spec.config["data"]["name"] for spec, _ in record.entries} == {"cifar10"}


# --------------------------------------------------------------------------- README


def test_readme_lists_every_example():
    readme = (EXAMPLES / "README.md").read_text()
    listed = set(re.findall(r"^\| \[`?([\w.]+\.yaml)`?\]", readme, re.MULTILINE))
    assert listed == set(SWEEP_FILES)
