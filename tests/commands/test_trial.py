"""``sweepnet trial``: one trial in-process, Solver lines, exit status by final state, --pdb."""

from __future__ import annotations

import pdb

import pytest

from sweepnet.cli import main
from sweepnet.config import load_plan
from sweepnet.pluginmanager import AUTOLOAD_ENV

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
    plan.load_dataset()
    first = plan.make_searcher().ask()
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
