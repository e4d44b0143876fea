"""``sweepnet validate``: a summary and exit 0, or one error line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sweepnet.cli import main

GRID = """\
name: knn-exercise
data: {name: digits, flatten: true, cv: 5}
model: {name: knn, k: {grid: [1, 3, 5, 8, 10, 12, 15, 20, 50, 100]}}
search: {searcher: grid}
"""

RANDOM = """\
name: quickstart
data: {name: digits, flatten: true}
model:
  name: fc
  hidden_dims: {choice: [[64], [128, 64]]}
  reg: {loguniform: [1.0e-5, 1.0e-2]}
solver:
  update_rule: {choice: [adam, {name: sgd_momentum, momentum: {uniform: [0.5, 0.99]}}]}
  num_epochs: 15
search: {searcher: random, num_samples: 20, time_budget_s: 600}
pruner: {name: asha, grace_period: 2}
"""


@pytest.fixture
def write(tmp_path):
    def write(text: str, name: str = "sweep.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_summary_of_a_grid_sweep(write, capsys):
    path = write(GRID)
    assert main(["validate", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{path} is valid"
    text = "\n".join(lines)
    assert "digits: classification, 10 classes, inputs (64,), 1257 / 180 / 360 samples, 5-fold cross-validation" in text
    assert "searcher    grid: 10 trials" in text and "models      knn" in text
    assert "metric      val_acc (max), at most 1 epoch per trial" in text
    assert lines[-2:] == ["  parameters  1", "    model.k  grid[1, 3, 5, 8, 10, 12, 15, 20, 50, 100]"]


def test_summary_of_a_random_sweep_with_a_branch(write, capsys):
    assert main(["validate", write(RANDOM)]) == 0
    out = capsys.readouterr().out
    assert "searcher    random: at most 20 trials, 600 s" in out
    assert "pruner      asha {grace_period: 2}" in out and "at most 15 epochs per trial" in out
    for line in [
        "model.hidden_dims            choice[[64], [128, 64]]",
        "model.reg                    loguniform[1e-05, 0.01]",
        "solver.update_rule           choice['adam', 'sgd_momentum']",
        "solver.update_rule.momentum  uniform[0.5, 0.99]",
    ]:
        assert f"    {line}\n" in out


def test_overrides_are_validated_too(write, capsys):
    assert main(["validate", write(GRID), "--set", "search.num_samples=3", "--set", "metric=test_acc"]) == 0
    assert "searcher    grid: 3 trials (of 10 points)" in capsys.readouterr().out
    assert main(["validate", write(GRID), "--set", "model.k={grid: [0, 1]}"]) == 2
    assert capsys.readouterr().err.startswith("sweepnet: error: --set model.k: Input should be greater than 0")


def test_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err == f"sweepnet: error: {tmp_path / 'missing.yaml'}: no such sweep file\n"


def test_as_a_real_process(write):
    done = subprocess.run([sys.executable, "-m", "sweepnet", "validate", write(GRID)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith(f"{write(GRID)} is valid")
