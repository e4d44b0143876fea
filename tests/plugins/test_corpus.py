"""A corpus of misbehaving plugin packages, really installed next to sweepnet: each is named in
one line, a sweep that uses one fails before any trial, and the quickstart still runs.

The packages live in ``tests/plugins/corpus/``; they are built and installed offline (no index,
no build isolation) into a throwaway venv that sees this environment's packages through a
``.pth`` file, and every command runs as a real ``python -m sweepnet`` process there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
import textwrap
from pathlib import Path

import pytest

from sweepnet import __version__

from .venvs import env_with_autoload, venv_seeing

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "corpus"
QUICKSTART = ROOT / "examples" / "quickstart.yaml"

REGISTRATION_WARNINGS = [
    "sweepnet: warning: plugin 'import_error' (sweepnet-import-error 0.1.0) skipped: failed to import "
    "'import_error': ModuleNotFoundError: No module named 'tensorflow_for_numpy_nets'",
    "sweepnet: warning: plugin 'misspelled_hook' (sweepnet-misspelled-hook 0.1.0) skipped: implements unknown "
    "hook 'sweepnet_register_layer'; did you mean 'sweepnet_register_layers'?",
    "sweepnet: warning: layer 'swish' of plugin 'clash_b' (sweepnet-clash-b 0.1.0) skipped: the name is taken by "
    "plugin 'clash_a' (sweepnet-clash-a 0.1.0), which registered it first; to use sweepnet-clash-b's, set "
    "SWEEPNET_PREFER=swish=sweepnet-clash-b",
    f"sweepnet: warning: layer 'leaky_relu' of plugin 'clash_builtin' (sweepnet-clash-builtin 0.1.0) skipped: the "
    f"name is taken by sweepnet {__version__}, which registered it first; to use sweepnet-clash-builtin's, set "
    "SWEEPNET_PREFER=leaky_relu=sweepnet-clash-builtin",
    "sweepnet: warning: plugin 'register_raises' (sweepnet-register-raises 0.1.0) skipped: sweepnet_register_layers "
    "raised RuntimeError: the licence server is unreachable",
]


@pytest.fixture(scope="module")
def corpus_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The python of a fresh venv holding sweepnet (through a .pth file) and every corpus package."""
    tmp = tmp_path_factory.mktemp("corpus")
    python = venv_seeing(tmp / "venv", Path(sysconfig.get_paths()["purelib"]))
    sources = tmp / "sources"
    shutil.copytree(CORPUS, sources, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    packages = sorted(str(path) for path in sources.iterdir())
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation", *packages],
        check=True, capture_output=True, text=True, env=_env(),
    )  # fmt: skip
    return python


def _env(**extra: str) -> dict[str, str]:
    """Entry points load (the test suite's autoload switch is dropped); tables are not cut."""
    return env_with_autoload(COLUMNS="100", **extra)


def _sweepnet(python: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "sweepnet", *args], capture_output=True, text=True, env=_env(**env), timeout=timeout, cwd=ROOT
    )


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("sweepnet: warning:")]


def test_every_broken_plugin_is_named_in_one_line_and_the_rest_load(corpus_python):
    result = _sweepnet(corpus_python, "plugins")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stderr.splitlines()) == sorted(REGISTRATION_WARNINGS)
    out = result.stdout
    for name in ("clash_ok", "swish", "drops_a_column", "bad_dx", "bad_gradient", "nan_sqrt", "ascent"):
        assert f"│ {name} " in out
    assert "halfway" not in out and "never" not in out
    assert "name clashes" in out and "plugins not loaded" in out


def test_check_names_each_component_and_each_offender(corpus_python):
    result = _sweepnet(corpus_python, "plugins", "--check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    failed = sorted(line.split(":")[0] for line in lines if line.startswith("FAILED"))
    assert failed == sorted(
        [
            "FAILED layer 'bad_dx' of plugin 'wrong_shape' (sweepnet-wrong-shape 0.1.0)",
            "FAILED layer 'bad_gradient' of plugin 'wrong_gradient' (sweepnet-wrong-gradient 0.1.0)",
            "FAILED layer 'drops_a_column' of plugin 'wrong_shape' (sweepnet-wrong-shape 0.1.0)",
            "FAILED layer 'nan_sqrt' of plugin 'nan_layer' (sweepnet-nan-layer 0.1.0)",
            "FAILED optimizer 'ascent' of plugin 'bad_optimizer' (sweepnet-bad-optimizer 0.1.0)",
            "FAILED plugin 'import_error' (sweepnet-import-error 0.1.0)",
            "FAILED plugin 'misspelled_hook' (sweepnet-misspelled-hook 0.1.0)",
            "FAILED plugin 'register_raises' (sweepnet-register-raises 0.1.0)",
        ]
    )
    assert any(line.startswith("ok     layer 'swish' of plugin 'clash_a' (sweepnet-clash-a 0.1.0) (") for line in lines)
    assert any(line.startswith(f"ok     layer 'leaky_relu' of sweepnet {__version__} (") for line in lines)
    checked = sum(line.startswith("ok ") for line in lines) + 5  # the five failing components
    assert f"checked {checked} layers and optimizers: 8 problem(s)" in result.stdout


SWEEP = """\
name: corpus-{name}
data: {{name: digits, flatten: true}}
model: {{name: sequential, layers: [{{name: affine, units: 16}}, {layer}, {{name: affine, units: 10}}]}}
solver: {{update_rule: {rule}, num_epochs: 1, num_train_samples: 50}}
search: {{searcher: grid}}
"""

BROKEN_USES = {
    "drops_a_column": ("drops_a_column", "adam", "model.layers[1]: layer 'drops_a_column' of plugin 'wrong_shape' "
                       "(sweepnet-wrong-shape 0.1.0) fails the conformance check: layer DropsAColumn() at input "
                       "shape (7,): forward returned (3, 6), expected (N, *(7,))"),
    "bad_dx": ("bad_dx", "adam", "model.layers[1]: layer 'bad_dx' of plugin 'wrong_shape' (sweepnet-wrong-shape "
               "0.1.0) fails the conformance check: layer BadDx() at input shape (7,): backward returned dx of shape "
               "(3, 6) for x of shape (3, 7)"),
    "bad_gradient": ("bad_gradient", "adam", "model.layers[1]: layer 'bad_gradient' of plugin 'wrong_gradient' "
                     "(sweepnet-wrong-gradient 0.1.0) fails the conformance check: layer Cube() at input shape "
                     "(7,): dx does not match the numerical gradient"),
    "nan_sqrt": ("nan_sqrt", "adam", "model.layers[1]: layer 'nan_sqrt' of plugin 'nan_layer' (sweepnet-nan-layer "
                 "0.1.0) fails the conformance check: layer SquareRoot() at input shape (7,): forward returned NaN "
                 "from finite inputs"),
    "ascent": ("relu", "ascent", "solver.update_rule: optimizer 'ascent' of plugin 'bad_optimizer' "
               "(sweepnet-bad-optimizer 0.1.0) fails the conformance check: optimizer 'ascent': 100 steps"),
    "halfway": ("halfway", "adam", "model.layers[1].name: layer 'halfway' is unavailable: plugin 'register_raises' "
                "(sweepnet-register-raises 0.1.0) failed: sweepnet_register_layers raised RuntimeError: the licence "
                "server is unreachable"),
    "never": ("never", "adam", "model.layers[1].name: unknown layer 'never'; it may come from a plugin that failed "
              "to load: plugin 'import_error' (sweepnet-import-error 0.1.0), plugin 'misspelled_hook' "
              "(sweepnet-misspelled-hook 0.1.0), plugin 'register_raises' (sweepnet-register-raises 0.1.0) "
              "(available: affine, "),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BROKEN_USES))
def test_a_sweep_that_uses_a_broken_component_fails_in_one_line_naming_it(corpus_python, tmp_path, case):
    layer, rule, message = BROKEN_USES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(SWEEP.format(name=case, layer=layer, rule=rule))
    result = _sweepnet(corpus_python, "validate", str(path))
    assert result.returncode == 2
    [error] = [line for line in result.stderr.splitlines() if not line.startswith("sweepnet: warning:")]
    assert error.startswith(f"sweepnet: error: {path}: {message}") or error.startswith(f"sweepnet: error: {message}")


def test_the_preference_and_disable_variables_quiet_the_warnings(corpus_python):
    result = _sweepnet(
        corpus_python,
        "plugins",
        SWEEPNET_PREFER="leaky_relu=sweepnet-clash-builtin,swish=sweepnet-clash-a",
        SWEEPNET_DISABLE_PLUGINS="import_error,sweepnet-misspelled-hook,register_raises",
    )
    assert result.returncode == 0
    assert result.stderr == ""
    rows = [tuple(cell.strip() for cell in line.strip("│").split("│")) for line in result.stdout.splitlines()]
    assert ("layer", "leaky_relu", "plugin 'clash_builtin' (sweepnet-clash-builtin 0.1.0)", f"sweepnet {__version__}",
            "preferred by SWEEPNET_PREFER") in rows  # fmt: skip
    assert ("layer", "swish", "plugin 'clash_a' (sweepnet-clash-a 0.1.0)", "plugin 'clash_b' (sweepnet-clash-b 0.1.0)",
            "preferred by SWEEPNET_PREFER") in rows  # fmt: skip
    assert result.stdout.count("disabled by SWEEPNET_DISABLE_PLUGINS") == 3


_RUNS = textwrap.dedent(
    """
    import json, sys
    import mlflow
    runs = mlflow.search_runs(experiment_names=[sys.argv[1]], output_format="list")
    print(json.dumps(sorted(run.info.status for run in runs)))
    """
)


def test_the_quickstart_runs_with_the_corpus_installed_and_a_raising_hook_costs_nothing(corpus_python, tmp_path):
    """Every registration warning appears once (on the driver, not per worker); the third-party
    sweepnet_trial_end that raises is reported once, naming it, and the tracker still closes every run."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = _sweepnet(
        corpus_python, "sweep", str(QUICKSTART), "--set", "search.num_samples=3", "--set", "solver.num_epochs=2",
        "--max-concurrent", "2", "--tracking-uri", store, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    hook = (
        "sweepnet: warning: plugin 'hook_raises' (sweepnet-hook-raises 0.1.0): sweepnet_trial_end raised "
        "KeyError: 'val_acc'; disabled for the rest of the sweep"
    )
    assert sorted(_warnings(result.stderr)) == sorted([*REGISTRATION_WARNINGS, hook])
    assert "3 trials" in result.stdout
    statuses = subprocess.run(
        [corpus_python, "-c", _RUNS, "quickstart"], capture_output=True, text=True, check=True,
        env=_env(MLFLOW_TRACKING_URI=store),
    ).stdout  # fmt: skip
    assert json.loads(statuses) == ["FINISHED"] * 4  # the parent run and its three trials


def test_a_sweep_that_uses_a_broken_layer_fails_before_any_trial(corpus_python, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SWEEP.format(name="bad-dx", layer="bad_dx", rule="adam"))
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = _sweepnet(corpus_python, "sweep", str(path), "--tracking-uri", store, timeout=600)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("sweepnet: warning:")]
    assert errors == [f"sweepnet: error: {BROKEN_USES['bad_dx'][2]}"]
    assert "trial" not in result.stdout
