"""``sweepnet.load_model``: a saved model predicts from raw inputs exactly as its trial scored it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import sweepnet
from sweepnet import leaderboard
from sweepnet.bundle import ModelBundle, ModelFileError
from sweepnet.config import load_plan, plan_from_text
from sweepnet.data import DatasetMeta
from sweepnet.errors import SweepnetError
from sweepnet.options import NoOptions
from sweepnet.predictor import Predictor, load_model
from sweepnet.tracking import TrackingError, read_sweep
from sweepnet.trial import run_trial


def _raw_digits(registries):
    """The digits splits as the data set plugin loads them: images ``(N, 1, 8, 8)``, before preprocessing."""
    return registries.datasets.get("digits")().load(NoOptions(), data_home=None)


def _accuracy(model, X, y) -> float:
    return float(np.mean(model.predict(X) == y))


def _best(recorded):
    """``(spec, result)`` of the sweep's best trial, ranked as the store and ``sweepnet best`` rank it."""
    return leaderboard.rank(recorded.entries, "val_acc", "max")[0]


def test_the_best_model_of_a_sweep_reproduces_its_recorded_scores_on_the_raw_splits(recorded_sweep, builtin_registries):
    spec, result = _best(recorded_sweep)
    model = load_model(recorded_sweep.name, tracking_uri=recorded_sweep.uri)
    raw = _raw_digits(builtin_registries)
    assert _accuracy(model, raw.X_test, raw.y_test) == result.metrics["test_acc"]
    assert _accuracy(model, raw.X_val, raw.y_val) == result.metrics["val_acc"]
    assert (model.sweep, model.trial_id) == ("recorded", spec.trial_id)
    assert (model.trial_number, model.seed) == (spec.number, spec.seed)
    assert model.params == spec.params and model.metrics == pytest.approx(result.metrics)
    assert model.task == "classification" and model.input_shape == (1, 8, 8)
    assert model.class_names == tuple(str(digit) for digit in range(10))
    assert model.config == spec.config and f"trial {spec.number} ({spec.trial_id[:8]})" in repr(model)


def test_in_a_fresh_process_the_loaded_model_reproduces_the_recorded_test_accuracy(recorded_sweep):
    """What a user does after the sweep: a new Python, the sweep's name, the raw test split."""
    code = textwrap.dedent(f"""
        import json, numpy as np, sweepnet
        from sweepnet.options import NoOptions
        from sweepnet.pluginmanager import get_registries
        model = sweepnet.load_model({recorded_sweep.name!r}, tracking_uri={recorded_sweep.uri!r})
        raw = get_registries().datasets.get("digits")().load(NoOptions(), data_home=None)
        print(json.dumps([float(np.mean(model.predict(raw.X_test) == raw.y_test)), model.trial_id]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    accuracy, trial_id = json.loads(done.stdout.splitlines()[-1])
    record = read_sweep(recorded_sweep.name, recorded_sweep.uri)  # the recorded number, from the store
    spec, result = leaderboard.rank(record.entries, record.metric, record.mode)[0]
    assert trial_id == spec.trial_id and accuracy == result.metrics["test_acc"]


def test_a_trial_or_parent_run_id_and_a_file_path_load_too(recorded_sweep, builtin_registries, tmp_path):
    client = MlflowClient(recorded_sweep.uri)
    record = read_sweep(recorded_sweep.name, recorded_sweep.uri)
    spec, result = recorded_sweep.entries[2]  # not the best
    [run] = client.search_runs(
        [client.get_experiment_by_name("recorded").experiment_id], f"tags.`sweepnet.trial_id` = '{spec.trial_id}'"
    )
    raw = _raw_digits(builtin_registries)
    by_run = load_model(run.info.run_id, tracking_uri=recorded_sweep.uri)
    assert by_run.trial_id == spec.trial_id and _accuracy(by_run, raw.X_test, raw.y_test) == result.metrics["test_acc"]
    assert f"model.npz of run {run.info.run_id}" in by_run.source
    by_parent = load_model(record.run_id, tracking_uri=recorded_sweep.uri)  # the parent's best_model.npz
    assert by_parent.trial_id == _best(recorded_sweep)[0].trial_id
    path = client.download_artifacts(run.info.run_id, "model.npz", str(tmp_path))
    assert load_model(Path(path)).trial_id == spec.trial_id == load_model(path).trial_id


def test_predict_proba_is_the_softmax_of_the_scores(recorded_sweep, builtin_registries):
    model = load_model(recorded_sweep.name, tracking_uri=recorded_sweep.uri)
    raw = _raw_digits(builtin_registries)
    probabilities = model.predict_proba(raw.X_test[:20])
    assert probabilities.shape == (20, 10) and probabilities.dtype == np.float64
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(np.argmax(probabilities, axis=1), model.predict(raw.X_test[:20]))
    rows = raw.X_test[:20].reshape(20, 64).tolist()
    np.testing.assert_array_equal(model.predict(rows), model.predict(raw.X_test[:20]))


OTHER_MODELS = {  # overrides of DIGITS
    "sequential conv net with batchnorm": (
        "model={name: sequential, layers: [{name: conv, filters: 4, kernel: 3, pad: 1}, spatial_batchnorm, relu, "
        "max_pool, {name: affine, units: 16}, batchnorm, relu, {name: affine, units: 10}]}",
    ),
    "softmax classifier with the bias trick": ("model={name: softmax, num_iters: 50}", "data.bias_trick=true"),
    "linear SVM": ("model={name: linear_svm, num_iters: 50}", "data.bias_trick=true"),
    "two-layer net": ("model={name: two_layer, hidden_dim: 16, weight_scale: 0.1}", "data.flatten=true"),
}
DIGITS = """\
name: other
data: {name: digits, num_test: 200, standardize: true}
model: {name: fc}
solver: {update_rule: adam, optim_config: {learning_rate: 1.0e-2}, batch_size: 64, num_epochs: 3}
search: {num_samples: 1}
"""


def _saved(text: str, *overrides: str) -> tuple[Predictor, dict[str, float]]:
    """Train the sweep's first point in-process, save it as a model file, load it back."""
    plan = plan_from_text(text, overrides)
    dataset = plan.load_dataset()
    spec = plan.trial_spec(plan.bind(dataset.meta).make_searcher().ask(), 0)
    result = run_trial(spec, dataset=dataset)
    bundle = ModelBundle(result.weights, result.model_state, spec.config, dataset.meta, {"trial_id": spec.trial_id})
    return Predictor(ModelBundle.read(bundle.to_bytes())), result.metrics


@pytest.mark.parametrize("overrides", OTHER_MODELS.values(), ids=OTHER_MODELS.keys())
def test_every_kind_of_model_reproduces_its_test_accuracy(overrides, builtin_registries):
    model, metrics = _saved(DIGITS, *overrides)
    raw = _raw_digits(builtin_registries)
    assert _accuracy(model, raw.X_test[:200], raw.y_test[:200]) == metrics["test_acc"]
    if "linear_svm" in overrides[0]:
        with pytest.raises(SweepnetError, match="trained with the svm loss, its scores are not probabilities"):
            model.predict_proba(raw.X_test[:3])
    else:
        np.testing.assert_allclose(model.predict_proba(raw.X_test[:3]).sum(axis=1), 1.0)


def test_a_regression_model_predicts_values_with_its_recorded_rmse(builtin_registries):
    text = DIGITS.replace("digits, num_test: 200", "diabetes").replace("{name: fc}", "{name: fc, hidden_dims: [16]}")
    model, metrics = _saved(text)
    raw = builtin_registries.datasets.get("diabetes")().load(NoOptions(), data_home=None)
    predictions = model.predict(raw.X_test)
    assert predictions.shape == (len(raw.X_test),) and model.class_names is None
    assert math.sqrt(np.mean((predictions.astype(np.float64) - raw.y_test) ** 2)) == metrics["test_rmse"]
    with pytest.raises(SweepnetError, match="a regression model has no class probabilities"):
        model.predict_proba(raw.X_test)


def test_loading_is_lazy_and_importing_sweepnet_stays_light():
    code = "import sys, sweepnet; print('sweepnet.predictor' in sys.modules, callable(sweepnet.load_model))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
    assert "load_model" in sweepnet.__all__ and sweepnet.load_model is load_model
    with pytest.raises(AttributeError, match="no attribute 'loadmodel'"):
        sweepnet.loadmodel  # noqa: B018


def test_unknown_references_are_one_line_errors(recorded_sweep, tmp_path):
    with pytest.raises(ModelFileError, match=r"^missing.npz: no such model file$"):
        load_model("missing.npz")
    with pytest.raises(TrackingError, match=r"^no model file, run or sweep named 'nothing' \(tracking store sqlite"):
        load_model("nothing", tracking_uri=recorded_sweep.uri)
    with pytest.raises(TrackingError, match=r"no model file, run or sweep named '0{32}'"):
        load_model("0" * 32, tracking_uri=recorded_sweep.uri)
    with pytest.raises(TrackingError, match=r"'quickstart' is no model file, and there is no tracking store"):
        load_model("quickstart", tracking_uri=f"sqlite:///{tmp_path / 'none.db'}")


def test_a_sweep_whose_best_kept_no_weights_says_so(tmp_path, record_plan):
    path = tmp_path / "knn.yaml"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sections = ["name: knn", "data: {name: digits}", "model: {name: knn}", "search: {searcher: grid}"]
    path.write_text("\n".join([*sections, f"tracking: {{uri: '{uri}'}}"]))
    record_plan(load_plan(path))
    with pytest.raises(TrackingError, match=r"sweep 'knn' in .*: its best trial 0 \(\w{8}\) kept no weights"):
        load_model("knn", tracking_uri=uri)


def test_a_file_that_cannot_become_its_model_is_named(recorded_sweep, tmp_path):
    record = read_sweep(recorded_sweep.name, recorded_sweep.uri)
    client = MlflowClient(recorded_sweep.uri)
    bundle = ModelBundle.read(client.download_artifacts(record.run_id, "best_model.npz", str(tmp_path)))
    unknown = ModelBundle(bundle.weights, bundle.state, {**bundle.config, "model": {"name": "mystery"}}, bundle.meta)
    with pytest.raises(ModelFileError, match=r"^here: cannot rebuild its model: model.name: unknown model 'mystery'"):
        Predictor(unknown, source="here")
    misfit = ModelBundle({**bundle.weights, "W1": np.zeros((3, 3))}, bundle.state, bundle.config, bundle.meta)
    misfits = r"^here: its weights \{W1: \(3, 3\), .* do not fit its model, which has \{W1: \(64, 32\)"
    with pytest.raises(ModelFileError, match=misfits):
        Predictor(misfit, source="here")
    stranger = ModelBundle(bundle.weights, {"bn_params.5.running_mean": np.zeros(3)}, bundle.config, bundle.meta)
    with pytest.raises(ModelFileError, match=r"^here: its state does not fit its model: FullyConnectedNet has no"):
        Predictor(stranger, source="here")
    blind = ModelBundle(bundle.weights, bundle.state, bundle.config, None)
    with pytest.raises(ModelFileError, match=r"^here: saved without a description of its data set"):
        Predictor(blind, source="here")
    meta = DatasetMeta("digits", "classification", (64,), num_classes=10)
    assert Predictor(ModelBundle(bundle.weights, bundle.state, bundle.config, meta)).input_shape == (64,)
