"""``sweepnet trial``: one trial in-process, Solver lines, exit status by final state, --pdb, --trial."""

from __future__ import annotations

import json
import pdb
import subprocess
import sys
import textwrap

import pytest

from sweepnet import leaderboard
from sweepnet.cli import main
from sweepnet.config import load_plan
from sweepnet.pluginmanager import AUTOLOAD_ENV
from sweepnet.replay import recorded_trial
from sweepnet.tracking import read_sweep
from sweepnet.trial import run_trial

SWEEP = """\
name: quickstart
data: {name: digits, flatten: true, standardize: true}
model:
  name: fc
  hidden_dims: {choice: [[32], [64]]}
  reg: {loguniform: [1.0e-5, 1.0e-2]}
  weight_scale: 0.1
solver: {update_rule: adam, optim_config: {learning_rate: 1.0e-3}, batch_size: 64, num_epochs: 2}
search: {searcher: random, num_samples: 10}
"""

RAISING_LAYER = """
    from sweepnet import hookimpl
    from sweepnet.layer import Layer

    class Broken(Layer):
        "Fits every shape; passes the pre-flight checks (batches of 3), raises in training."

        def forward(self, x, params, mode):
            if len(x) > 3:
                raise ZeroDivisionError("broken layer")
            return x.copy(), None

        def backward(self, dout, cache):
            return dout, {}

    @hookimpl
    def sweepnet_register_layers(registry):
        registry.add("broken", Broken)
"""


@pytest.fixture
def sweep_file(tmp_path):
    path = tmp_path / "quickstart.yaml"
    path.write_text(SWEEP)
    return path


@pytest.fixture(autouse=True)
def _fresh(fresh_plugin_state):
    """Each test resolves plugins anew (one of them installs a plugin)."""


def test_runs_the_searchers_first_point_printing_the_solver_lines(sweep_file, capsys, builtin_registries):
    assert main(["trial", str(sweep_file)]) == 0
    out = capsys.readouterr().out
    plan = load_plan(sweep_file, registries=builtin_registries)
    first = plan.bind(plan.load_dataset().meta).make_searcher().ask()
    spec = plan.trial_spec(first, 0)
    assert f"trial {spec.trial_id[:8]} of sweep quickstart (seed {spec.seed})" in out
    assert f"  model.reg = {first['model.reg']!r}" in out
    assert "(Iteration 1 / 38) loss:" in out and "(Epoch 0 / 2) train acc:" in out
    assert "(Epoch 2 / 2) train acc:" in out
    final = out.strip().splitlines()[-1]
    assert final.startswith("COMPLETED in ") and "val_acc 0." in final and "epochs 2" in final


def test_set_fixes_searched_values_and_quiet_hides_the_progress(sweep_file, capsys):
    assert main(["trial", str(sweep_file), "--set", "model.reg=1e-4", "--set", "model.hidden_dims=[16]", "-q"]) == 0
    out = capsys.readouterr().out
    assert "model.reg" not in out and "model.hidden_dims" not in out and "(Epoch" not in out
    assert out.strip().splitlines()[-1].startswith("COMPLETED")


def test_divergence_exits_1_with_the_reason(sweep_file, capsys):
    overrides = ["--set", "solver.update_rule=sgd", "--set", "solver.optim_config.learning_rate=1e5", "-q"]
    assert main(["trial", str(sweep_file), *overrides]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1].startswith("DIVERGED")
    assert "times the first loss" in captured.err or "non-finite" in captured.err
    assert captured.err.strip().endswith("sweepnet: trial DIVERGED")


def _with_broken_layer(sweep_file, installed_plugin, monkeypatch):
    installed_plugin("sweepnet-broken", RAISING_LAYER)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    layers = "[{name: affine, units: 16}, broken, {name: affine, units: 10}]"
    return [str(sweep_file), "--set", f"model={{name: sequential, layers: {layers}}}", "-q"]


def test_an_exception_in_a_plugin_fails_with_its_traceback(sweep_file, capsys, installed_plugin, monkeypatch):
    args = _with_broken_layer(sweep_file, installed_plugin, monkeypatch)
    assert main(["trial", *args]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: broken layer" in err
    assert err.strip().endswith("sweepnet: trial FAILED")


def test_pdb_opens_the_post_mortem_debugger_where_the_trial_raised(sweep_file, installed_plugin, monkeypatch, capsys):
    args = _with_broken_layer(sweep_file, installed_plugin, monkeypatch)
    debugged = []
    monkeypatch.setattr(pdb, "post_mortem", lambda tb: debugged.append(tb))
    assert main(["trial", *args, "--pdb"]) == 1
    [tb] = debugged
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert tb.tb_frame.f_code.co_name == "forward"  # the frame that raised
    assert "ZeroDivisionError: broken layer" in capsys.readouterr().err


def test_a_bad_file_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(SWEEP.replace("batch_size: 64", "batch_size: 0"))
    assert main(["trial", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"sweepnet: error: {path}: solver.batch_size: Input should be greater than 0, got 0\n"


# --------------------------------------------------------------------------- re-running a recorded trial


def _replayed_output(capsys, *args) -> tuple[int, str, str]:
    status = main(["trial", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_recorded_trial_reruns_from_the_store_with_its_exact_history(recorded_sweep, capsys):
    spec, result = recorded_sweep.entries[0]
    status, out, _ = _replayed_output(capsys, "recorded", "--trial", "0", "--tracking-uri", recorded_sweep.uri)
    assert status == 0
    lines = out.splitlines()
    header = f"trial 0 ({spec.trial_id[:8]}) of sweep recorded (seed {spec.seed}), recorded COMPLETED in "
    assert lines[0].startswith(header)
    assert f"  model.weight_scale = {spec.params['model.weight_scale']!r}" in lines
    assert "(Epoch 4 / 4) train acc:" in out and "differs" not in out
    assert lines[-1] == "history: the 4 epochs recorded, reproduced exactly"


def test_the_rerun_history_equals_the_recorded_one_value_for_value(recorded_sweep):
    for spec, result in recorded_sweep.entries:
        replay = recorded_trial(recorded_sweep.name, str(spec.number), tracking_uri=recorded_sweep.uri)
        assert replay.spec == spec  # same config, id and seed
        rerun = run_trial(replay.spec, dataset=replay.plan.load_dataset())
        recorded = replay.recorded_history()
        assert recorded == result.history[: len(recorded)] and len(recorded) == len(result.history)
        assert rerun.history[: len(recorded)] == recorded  # exactly, every metric of every epoch


def test_a_pruned_trial_runs_on_and_repeats_its_recorded_epochs(recorded_sweep, capsys):
    spec, _ = recorded_sweep.entries[1]  # the pruner stopped it after epoch 2
    args = ["recorded", "--trial", spec.trial_id[:6], "--tracking-uri", recorded_sweep.uri]
    status, out, _ = _replayed_output(capsys, *args)
    assert status == 0 and "recorded PRUNED" in out.splitlines()[0]
    assert "COMPLETED in" in out and "epochs 4" in out
    assert out.splitlines()[-1] == "history: the 2 epochs recorded, reproduced exactly"


def test_a_sweep_file_plus_trial_reads_the_store_named_by_the_file_and_takes_overrides(recorded_sweep, capsys):
    spec, _ = recorded_sweep.entries[2]
    status, out, _ = _replayed_output(capsys, str(recorded_sweep.path), "--trial", "2", "-q")
    assert status == 0 and out.splitlines()[-1] == "history: the 4 epochs recorded, reproduced exactly"
    args = [str(recorded_sweep.path), "--trial", "2", "-q", "--set"]
    status, out, _ = _replayed_output(capsys, *args, "solver.num_epochs=2")
    assert status == 0
    assert "  differs from the recorded trial: solver.num_epochs: 2 (recorded: 4)" in out.splitlines()
    assert out.splitlines()[-1] == "history: the 2 epochs that ran repeat the record exactly (4 were recorded)"
    status, out, _ = _replayed_output(capsys, *args, "model.reg=0.5")
    assert "  differs from the recorded trial: model.reg: 0.5 (recorded: (not set))" in out.splitlines()
    assert out.splitlines()[-1].startswith("history: differs from the record at epoch 1: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recorded", "--trial", "7"], "--trial: sweep 'recorded' has no trial 7 and no trial id starting with it; "
                                       "its trials are numbered 0 to 2"),
        (["recorded", "--trial", "xyz"], "--trial: sweep 'recorded' has no trial xyz and no trial id starting with it"),
        (["unrecorded", "--trial", "0"], "no sweep named 'unrecorded' in tracking store"),
        (["missing.yaml", "--trial", "0"], "missing.yaml: no such sweep file"),
        (["recorded", "--trial", "0", "--set", "model.reg={grid: [0.1, 0.2]}"],
         "--trial: trial 0's recorded values do not fit sweep recorded: model.reg: no value given"),
        (["recorded.yaml", "--tracking-uri", "sqlite:///x.db"], "--tracking-uri: only --trial reads the tracking"),
    ],
)  # fmt: skip
def test_unknown_sweeps_and_trials_exit_2_with_one_line(recorded_sweep, capsys, args, message):
    status, out, err = _replayed_output(capsys, *args, "--tracking-uri", recorded_sweep.uri)
    assert status == 2 and out == ""
    assert err.startswith(f"sweepnet: error: {message}") and err.count("\n") == 1


def test_pdb_opens_on_a_recorded_trial_that_raised(tmp_path, installed_plugin, monkeypatch, capsys, record_plan):
    installed_plugin("sweepnet-broken", RAISING_LAYER)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = tmp_path / "broken.yaml"
    layers = "[{name: affine, units: 16}, broken, {name: affine, units: 10}]"
    path.write_text(SWEEP.replace("name: quickstart", "name: broken") + f"tracking: {{uri: '{uri}'}}\n")
    plan = load_plan(path, [f"model={{name: sequential, layers: {layers}}}"])
    record_plan(plan)
    debugged = []
    monkeypatch.setattr(pdb, "post_mortem", lambda tb: debugged.append(tb))
    assert main(["trial", "broken", "--trial", "0", "--tracking-uri", uri, "--pdb", "-q"]) == 1
    [tb] = debugged
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert tb.tb_frame.f_code.co_name == "forward"
    out = capsys.readouterr().out
    assert out.startswith("trial 0 (") and "recorded FAILED" in out.splitlines()[0]


RAY_SWEEP = """\
name: on-ray
seed: 3
data: {name: digits, flatten: true, standardize: true}
model:
  name: fc
  hidden_dims: [48]
  normalization: batchnorm
  dropout_keep_ratio: 0.8
  weight_scale: {loguniform: [1.0e-2, 3.0e-1]}
solver:
  update_rule: adam
  optim_config: {learning_rate: {loguniform: [1.0e-3, 3.0e-2]}}
  batch_size: 64
  num_epochs: 6
search: {searcher: random, num_samples: 4}
pruner: {name: asha, grace_period: 2, reduction_factor: 2}
"""


@pytest.mark.slow
def test_trials_run_by_ray_workers_rerun_here_exactly_and_the_best_model_rescores_in_a_new_process(tmp_path, capsys):
    """The whole story on a real sweep: Ray workers train and the driver records; then a trial is
    re-run in this process and the best model is loaded in a fresh one."""
    (tmp_path / "on-ray.yaml").write_text(RAY_SWEEP)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = [sys.executable, "-m", "sweepnet", "sweep", "on-ray.yaml", "--tracking-uri", uri, "--max-concurrent", "2"]
    done = subprocess.run(sweep, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    record = read_sweep("on-ray", uri, histories=True)
    assert len(record.entries) == 4
    for spec, result in record.entries:
        assert main(["trial", "on-ray", "--trial", str(spec.number), "--tracking-uri", uri, "-q"]) == 0
        out = capsys.readouterr().out
        epochs = len(result.history)
        expected = f"history: the {epochs} epoch{'s' * (epochs > 1)} recorded, reproduced exactly"
        assert out.splitlines()[-1] == expected, out
    code = textwrap.dedent(f"""
        import json, numpy as np, sweepnet
        from sweepnet.options import NoOptions
        from sweepnet.pluginmanager import get_registries
        model = sweepnet.load_model("on-ray", tracking_uri={uri!r})
        raw = get_registries().datasets.get("digits")().load(NoOptions(), data_home=None)
        print(json.dumps([model.trial_id, float(np.mean(model.predict(raw.X_test) == raw.y_test)),
                          float(np.mean(model.predict(raw.X_val) == raw.y_val))]))
    """)
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    trial_id, test_acc, val_acc = json.loads(loaded.stdout.splitlines()[-1])
    spec, result = leaderboard.rank(record.entries, record.metric, record.mode)[0]
    assert trial_id == spec.trial_id
    assert (test_acc, val_acc) == (result.metrics["test_acc"], result.metrics["val_acc"])
