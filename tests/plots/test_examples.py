"""Each example draws the pictures examples/README.md names for it (the classic notebook's).

The examples' own search spaces, searchers, data sets and models, with made-up results: every
point the searcher hands out (at most 30) becomes a trial with per-epoch and per-iteration
losses, the best trial's weights come from the example's real model. Running the sweeps end to
end is ``tests/test_examples.py``'s job.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sweepnet.data import DatasetMeta
from sweepnet.plan import load_plan
from sweepnet.plots import sweep_plots
from sweepnet.records import TrialResult, TrialState
from sweepnet.schema import setup_trial

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_ROW = re.compile(r"^\| \[`([\w.]+\.yaml)`\]\([\w.]+\) \| (`plots/[^|]+) \|", re.MULTILINE)
_MAX_TRIALS = 30
_EPOCHS = 4  # enough for per-epoch curves; the examples' 10 to 50 would only slow the test
# features_svm needs CIFAR-10; its data set after HOG + HSV features and the bias trick:
_CIFAR_FEATURES = DatasetMeta("cifar10", "classification", (155,), num_classes=10)


def _named() -> dict[str, list[str]]:
    """example file -> the figures the README's table names for it."""
    table = (EXAMPLES / "README.md").read_text().split("## The pictures each example draws", 1)[1]
    return {file: re.findall(r"`(plots/[^`]+)`", figures) for file, figures in _ROW.findall(table)}


def test_the_readme_names_the_pictures_of_every_example():
    assert set(_named()) == {path.name for path in EXAMPLES.glob("*.yaml")}
    assert all(_named().values())


@pytest.mark.parametrize("file", sorted(_named()))
def test_the_example_draws_the_pictures_its_readme_names(file, builtin_registries):
    plan = load_plan(EXAMPLES / file, registries=builtin_registries)
    dataset = None if plan.data_spec.name == "cifar10" else plan.load_dataset()
    meta = _CIFAR_FEATURES if dataset is None else dataset.meta
    kind = "acc" if meta.task == "classification" else "rmse"
    bound = plan.bind(meta)  # the default metric follows from the data set's task
    metric, mode = bound.metric, bound.mode
    searcher = bound.make_searcher()
    rng = np.random.default_rng(0)
    entries = []
    for number in range(_MAX_TRIALS):
        params = searcher.ask()
        if params is None:
            break
        spec = plan.trial_spec(params, number)
        result = _result(spec.trial_id, min(plan.max_epochs, _EPOCHS), kind, plan.data_spec.cv, rng)
        searcher.tell(params, result.metrics[metric], result.state)
        entries.append((spec, result))
    best_spec, _ = min(entries, key=lambda entry: entry[1].metrics[metric] * (-1 if mode == "max" else 1))
    setup = setup_trial(best_spec.config, builtin_registries)
    model = setup.model.obj().build(setup.model_options, meta, seed=0, dtype=np.dtype(np.float32))
    if setup.trainer == "classic" and dataset is not None:  # a linear classifier makes its W when fitted
        model.fit(dataset.X_train[:100], dataset.y_train[:100])
    figures = sweep_plots(entries, plan.config, metric, mode, data_meta=meta, best_weights=dict(model.params))
    missing = [name for name in _named()[file] if name not in figures]
    assert not missing, f"{file} drew {sorted(figures)}"
    if meta.task == "regression" or plan.data_spec.features:  # diabetes' 10 features, HOG + HSV: not pixels
        assert not {"plots/first_layer_weights.png", "plots/class_templates.png"} & set(figures)


def _result(trial_id: str, epochs: int, kind: str, folds: int | None, rng: np.random.Generator) -> TrialResult:
    """A trial that trained ``epochs`` epochs: its metric per epoch, its loss per iteration, its final metrics."""
    quality = rng.uniform(0.3, 1.0)
    scale = 1.0 if kind == "acc" else 100.0  # accuracy rises to ~quality; RMSE falls to ~100 (1 - quality)
    history = []
    for epoch in range(1, epochs + 1):
        reached = quality * (1 - 0.5 / epoch)
        val = reached if kind == "acc" else scale * (1 - reached)
        history.append({"epoch": epoch, "loss": 2.3 * (1 - reached), f"train_{kind}": val, f"val_{kind}": val})
    steps = np.arange(1, 20 * epochs + 1)
    iteration_loss = np.column_stack([steps, 2.3 * np.exp(-steps * quality / 40)]).astype(np.float32)
    best = max if kind == "acc" else min
    metrics = {
        f"val_{kind}": best(row[f"val_{kind}"] for row in history),
        f"train_{kind}": history[-1][f"train_{kind}"],
    }
    if folds:
        scores = metrics[f"val_{kind}"] + 0.01 * rng.standard_normal(folds)
        metrics.update(
            {f"val_{kind}_std": float(np.std(scores))},
            **{f"val_{kind}_fold{i}": float(s) for i, s in enumerate(scores)},
        )
    return TrialResult(trial_id, TrialState.COMPLETED, metrics, history, iteration_loss=iteration_loss)
