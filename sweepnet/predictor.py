"""Loading a saved model and predicting from raw inputs: :func:`load_model` and :class:`Predictor`.

::

    import sweepnet

    model = sweepnet.load_model("quickstart")          # the best trial of the sweep's latest invocation
    model = sweepnet.load_model("3fa9c2d1e0...")        # a trial's MLflow run id
    model = sweepnet.load_model("best_model.npz")       # a model file
    labels = model.predict(X_raw)                        # X_raw: (N, 1, 8, 8), as the digits plugin loads them
    probabilities = model.predict_proba(X_raw)           # (N, 10)
    model.class_names, model.params, model.metrics       # what it is and how it scored

The model is rebuilt by its model plugin from the config it was trained with, its weights and
state come from the file (read with ``allow_pickle=False``), and raw inputs go through the data
set's preprocessing with the training statistics before they reach it; the code comes from the
installed sweepnet and plugins, never from the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepnet.bundle import ModelBundle, ModelFileError
from sweepnet.core.model_state import load_model_state
from sweepnet.data.transform import Preprocessing
from sweepnet.errors import ConfigError, SweepnetError

if TYPE_CHECKING:
    from sweepnet.registry import Registries

__all__ = ["Predictor", "load_model"]

_BATCH = 100  # samples per forward pass, as Solver.check_accuracy scores: predictions match it bit for bit


def load_model(ref: str | os.PathLike[str], tracking_uri: str | None = None) -> Predictor:
    """Load a model that a sweep saved, ready to predict from raw inputs.

    Parameters
    ----------
    ref : a sweep's name (its best trial of the latest invocation), an MLflow run id (a trial's
        run, or a sweep's parent run for its best model), or the path of a model file
        (``model.npz``, ``best_model.npz``).
    tracking_uri : the store to read a name or run id from (default: ``$MLFLOW_TRACKING_URI``,
        then ``sqlite:///sweepnet-results/mlflow.db``).

    Raises
    ------
    SweepnetError
        one line naming the file, run or sweep: unknown, without saved weights, or a file that is
        not a sweepnet model (anything that would need unpickling is refused).
    """
    path = Path(ref)
    if isinstance(ref, os.PathLike) or path.is_file():
        return Predictor(ModelBundle.read(path), source=str(path))
    if path.suffix == ".npz" or os.sep in str(ref):
        raise ModelFileError(f"{ref}: no such model file")
    from sweepnet.tracking import model_file

    data, source = model_file(str(ref), tracking_uri)
    return Predictor(ModelBundle.read(data, name=source), source=source)


class Predictor:
    """A trained model behind the data set's preprocessing: ``predict`` and ``predict_proba`` on raw inputs.

    Attributes
    ----------
    model : the rebuilt model, its parameters and state those of the file.
    task : ``"classification"`` or ``"regression"``.
    class_names : names of the classes (None when the data set gives none; regression: None).
    input_shape : shape of one raw sample, as the data set plugin loads it, e.g. ``(1, 8, 8)``.
    sweep, trial_id, trial_number, seed : which trial trained it.
    params : the trial's hyperparameters, by dotted path.
    metrics : its recorded final metrics (``val_acc``, ``test_acc`` ...).
    config : the trial's resolved sweep config.
    transform : the data set's preprocessing, applied to the raw inputs of ``predict``.
    bundle : the model file as read.
    source : where the model was loaded from.
    """

    def __init__(self, bundle: ModelBundle, *, source: str = "", registries: Registries | None = None) -> None:
        self.bundle, self.source = bundle, source or "model file"
        meta, trial = bundle.meta, bundle.trial
        if meta is None:
            raise ModelFileError(f"{self.source}: saved without a description of its data set, so it cannot predict")
        self.task = meta.task
        self.class_names = meta.class_names if meta.task == "classification" else None
        # A sweep that did not describe its preprocessing fed the model its inputs as they were;
        # casting them to the model's dtype first is what the model does anyway.
        self.transform = meta.preprocessing or Preprocessing(
            tuple(meta.input_shape), str(bundle.config.get("solver", {}).get("dtype", "float32"))
        )
        self.input_shape = self.transform.raw_shape
        self.sweep: str | None = trial.get("sweep")
        self.trial_id: str | None = trial.get("trial_id")
        self.trial_number: int | None = trial.get("number")
        self.seed: int | None = trial.get("seed")
        self.params: dict[str, Any] = dict(trial.get("params") or {})
        self.metrics: dict[str, float] = dict(trial.get("metrics") or {})
        self.config = bundle.config
        self.model, self._trainer = _rebuild(bundle, self.source, registries)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels ``(N,)`` (classification) or values ``(N,)`` / ``(N, K)`` (regression).

        Parameters
        ----------
        X : ``(N, *input_shape)`` raw samples, or ``N`` rows of ``prod(input_shape)`` values.
        """
        inputs = self.transform.apply(X)
        if self._trainer == "classic":
            return np.asarray(self.model.predict(inputs))
        scores = self._scores(inputs)
        if self.task == "classification":
            return np.argmax(scores, axis=1)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, C)`` (rows sum to 1): the softmax of the model's scores.

        Raises
        ------
        SweepnetError
            for a regression model, or one trained with the SVM loss (its scores are margins,
            not log-probabilities).
        """
        if self.task != "classification":
            raise SweepnetError(f"{self.source}: a regression model has no class probabilities; use predict")
        loss = getattr(self.model, "loss_name", "softmax")
        if loss != "softmax":
            raise SweepnetError(f"{self.source}: trained with the {loss} loss, its scores are not probabilities")
        if self._trainer == "classic" and not callable(getattr(self.model, "scores", None)):
            raise SweepnetError(f"{self.source}: the {type(self.model).__name__} model gives labels, not scores")
        inputs = self.transform.apply(X)
        scores = self.model.scores(inputs) if self._trainer == "classic" else self._scores(inputs)
        shifted = np.asarray(scores, dtype=np.float64)
        shifted -= shifted.max(axis=1, keepdims=True)
        probabilities = np.exp(shifted)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def _scores(self, inputs: np.ndarray) -> np.ndarray:
        """The model's test-mode outputs ``(N, C)``, computed :data:`_BATCH` samples at a time."""
        batches = [self.model.loss(inputs[start : start + _BATCH]) for start in range(0, max(len(inputs), 1), _BATCH)]
        return np.concatenate(batches)

    def __repr__(self) -> str:
        shown = [key for key in ("val_acc", "val_rmse", "test_acc", "test_rmse") if key in self.metrics]
        scores = ", ".join(f"{key} {self.metrics[key]:.4g}" for key in shown)
        trial = f"trial {self.trial_number} ({(self.trial_id or '')[:8]})" if self.trial_id else "a trial"
        model = self.config.get("model", {})
        name = model.get("name") if isinstance(model, dict) else model
        return f"<sweepnet model {name} of {trial} of sweep {self.sweep!r}" + (f": {scores}>" if scores else ">")


def _rebuild(bundle: ModelBundle, source: str, registries: Registries | None) -> tuple[Any, str]:
    """Build the model of ``bundle.config`` with its plugin, then load the file's weights and state.

    Returns ``(model, trainer)``.
    """
    from sweepnet.pluginmanager import get_registries
    from sweepnet.schema import parse_named

    config = bundle.config
    if "model" not in config:
        raise ModelFileError(f"{source}: its config has no model section, so the model cannot be rebuilt")
    try:
        component, options = parse_named(config["model"], (registries or get_registries()).models, "model")
        dtype = np.dtype(config.get("solver", {}).get("dtype", "float32"))
        model = component.obj().build(options, bundle.meta, seed=0, dtype=dtype)
    except ConfigError as err:  # e.g. a plugin that is not installed here
        raise ModelFileError(f"{source}: cannot rebuild its model: {err}") from None
    trainer = component.obj.trainer
    if trainer == "classic":
        model.params = {name: np.array(value) for name, value in bundle.weights.items()}
        return model, trainer
    expected = {name: np.shape(value) for name, value in model.params.items()}
    found = {name: np.shape(value) for name, value in bundle.weights.items()}
    if expected != found:
        reason = f"its weights {_shapes(found)} do not fit its model, which has {_shapes(expected)}"
        raise ModelFileError(f"{source}: {reason}")
    model.params.update({name: np.array(value) for name, value in bundle.weights.items()})
    try:
        load_model_state(model, bundle.state)
    except ValueError as err:
        raise ModelFileError(f"{source}: its state does not fit its model: {err}") from None
    return model, trainer


def _shapes(shapes: dict[str, tuple[int, ...]]) -> str:
    return "{" + ", ".join(f"{name}: {shape}" for name, shape in shapes.items()) + "}"
