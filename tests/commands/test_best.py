"""``sweepnet best SWEEP`` prints the recorded leaderboard and where the best model is."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.cli import main
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.records import SweepInfo, TrialResult, TrialSpec, TrialState

SCORES = {0: 0.7, 1: 0.9, 2: None, 3: 0.8}  # trial number -> val_acc (None: FAILED)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich sizes tables by it when not on a terminal


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A SQLite store holding sweep ``digits-mlp`` (4 trials, one failed); returns (uri, weights by trial)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    hook = create_plugin_manager(autoload=False).hook
    sweep = SweepInfo("digits-mlp", {"tracking": {"uri": uri}}, "name: digits-mlp\n", "val_acc", "max")
    hook.sweepnet_sweep_start(sweep=sweep)
    weights, results = {}, []
    for number, score in SCORES.items():
        spec = TrialSpec(f"{number}" * 40, number, {"solver.lr": 10.0**-number}, {}, seed=number)
        hook.sweepnet_trial_start(sweep=sweep, trial=spec)
        if score is None:
            result = TrialResult(spec.trial_id, TrialState.FAILED, error="Traceback ...\nValueError: boom")
        else:
            weights[number] = {"W1": np.full((4, 3), float(number))}
            metrics = {"val_acc": score, "test_acc": score - 0.05, "epochs": 2.0}
            result = TrialResult(spec.trial_id, TrialState.COMPLETED, metrics, duration_s=1.0, weights=weights[number])
        hook.sweepnet_trial_end(sweep=sweep, trial=spec, result=result)
        results.append(result)
    hook.sweepnet_sweep_end(sweep=sweep, results=results)
    return uri, weights


def _rows(output: str) -> list[list[str]]:
    """The body rows of the rich table in ``output``, as lists of stripped cells."""
    lines = [line for line in output.splitlines() if line.startswith("│")]
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in lines]


def test_prints_the_ranked_trials_then_the_best_and_its_model(store, capsys):
    uri, weights = store
    assert main(["best", "digits-mlp", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert [(row[1], row[3], row[4]) for row in rows] == [
        ("1", "COMPLETED", "0.9"),
        ("3", "COMPLETED", "0.8"),
        ("0", "COMPLETED", "0.7"),
        ("2", "FAILED", ""),
    ]
    assert "digits-mlp (finished): 4 trials by val_acc" in out
    assert "best: trial 1 (11111111) val_acc 0.9, test_acc 0.85" in out
    [model_line] = [line for line in out.splitlines() if line.startswith("model: ")]
    with np.load(model_line.removeprefix("model: "), allow_pickle=False) as model:
        np.testing.assert_array_equal(model["params/W1"], weights[1]["W1"])


def test_limit_shows_only_the_best_n(store, capsys):
    assert main(["best", "digits-mlp", "--tracking-uri", store[0], "--limit", "2"]) == 0
    assert [row[1] for row in _rows(capsys.readouterr().out)] == ["1", "3"]


def test_the_store_comes_from_the_environment_without_the_flag(store, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store[0])
    assert main(["best", "digits-mlp"]) == 0
    assert "best: trial 1" in capsys.readouterr().out


def test_an_unknown_sweep_is_a_one_line_error_with_exit_status_2(store, capsys):
    assert main(["best", "digits-cnn", "--tracking-uri", store[0]]) == 2
    err = capsys.readouterr().err
    assert err == f"sweepnet: error: no sweep named 'digits-cnn' in tracking store {store[0]}\n"


def test_a_missing_store_is_an_error_not_a_new_empty_store(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["best", "digits-mlp"]) == 2
    err = capsys.readouterr().err
    assert "no sweep named 'digits-mlp' in tracking store sqlite:///sweepnet-results/mlflow.db" in err
    assert list(tmp_path.iterdir()) == []


def test_limit_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["best", "digits-mlp", "--limit", "0"])
    assert exited.value.code == 2 and "--limit: must be at least 1" in capsys.readouterr().err


def test_the_table_is_not_cut_when_stdout_is_not_a_terminal(store, capsys, monkeypatch):
    uri, _ = store
    monkeypatch.setenv("COLUMNS", "40")
    assert main(["best", "digits-mlp", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    assert ["1", "1", "1" * 8, "COMPLETED", "0.9", "0.85", "2", "1", "0.1"] in _rows(out)
