"""The MLflow ``python_function`` flavour of a sweepnet model: the ``loader_module`` of its MLmodel.

A sweep logs its best model on the parent run as the MLflow Model ``model/`` (``MLmodel`` plus the
model file ``model.npz``), whose ``python_function`` flavour names this module. MLflow then loads
it with the code of the installed sweepnet and the weights read by ``np.load(...,
allow_pickle=False)``; nothing is unpickled. In the user's code::

    model = mlflow.pyfunc.load_model(f"runs:/{parent_run_id}/model")
    labels = model.predict(X_raw)            # (N, *input_shape), or a table of N flattened rows

and ``mlflow models serve -m runs:/<parent_run_id>/model --env-manager local`` answers
``POST /invocations`` with ``{"predictions": [...]}``. This module does not import MLflow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnet.bundle import ModelBundle
from sweepnet.predictor import Predictor

__all__ = ["PyfuncModel"]


class PyfuncModel:
    """What MLflow's ``PyFuncModel`` calls: ``predict(model_input, params=None)``.

    Attributes
    ----------
    predictor : the sweepnet model, for ``predict_proba`` and its metadata.
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        """Labels ``(N,)`` (classification) or predicted values (regression).

        Parameters
        ----------
        model_input : raw samples ``(N, *input_shape)``, or ``N`` rows of ``prod(input_shape)``
            values: a numpy array, nested lists, or a pandas DataFrame (MLflow's ``dataframe_split``).
        params : unused (MLflow's signature for models without inference parameters).
        """
        rows = model_input.to_numpy() if hasattr(model_input, "to_numpy") else model_input
        return self.predictor.predict(np.asarray(rows))


def _load_pyfunc(data_path: str) -> PyfuncModel:
    """MLflow's entry point: the model in the file ``data_path`` (the flavour's ``data``)."""
    return PyfuncModel(Predictor(ModelBundle.read(data_path), source=data_path))
