"""The base class of model plugins, and what the models they build look like.

A model plugin builds a fresh model for one trial from its validated options and the data set's
:class:`~sweepnet.data.DatasetMeta` (input shape, number of classes, task). Its ``trainer`` says how
the trial trains the result:

- ``"solver"``: a :class:`SolverModel` trained by :class:`sweepnet.core.solver.Solver`;
- ``"classic"``: a :class:`ClassicModel` with its own training loop (kNN, linear classifiers).
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar

import numpy as np
from pydantic import BaseModel

from sweepnet.data import DatasetMeta
from sweepnet.errors import ConfigError
from sweepnet.options import NoOptions

__all__ = [
    "ClassicModel",
    "LossName",
    "ModelPlugin",
    "SolverModel",
    "Trainer",
    "num_outputs",
    "require_classification",
    "resolve_loss",
    "resolve_rng",
]

Trainer = Literal["solver", "classic"]
LossName = Literal["softmax", "svm", "mse"]


class SolverModel(Protocol):
    """A model the classic Solver trains.

    Attributes
    ----------
    params : name -> array; the Solver replaces entries with updated arrays.
    reg : L2 regularisation strength.
    """

    params: dict[str, np.ndarray]
    reg: float

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Scores ``(N, C)`` for ``X: (N, *input_shape)`` when ``y`` is None, else ``(loss, grads)``."""
        ...


class ClassicModel(Protocol):
    """A classifier with its own training loop.

    Attributes
    ----------
    params : its trained arrays (``{"W": (D, C)}`` for a linear classifier, ``{}`` for kNN).
    """

    params: dict[str, np.ndarray]

    def fit(self, X: np.ndarray, y: np.ndarray) -> list[float]:
        """Train on ``X: (N, *input_shape)``, ``y: (N,)``; returns the loss history (may be empty)."""
        ...

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels ``(N,)`` for ``X: (N, *input_shape)``."""
        ...


# A subclass names its Options model, `class Mlp(ModelPlugin["Mlp.Options"])`, so build can use its fields.
OptionsT = TypeVar("OptionsT", bound=BaseModel)


class ModelPlugin(Generic[OptionsT]):
    """A model plugin: ``Options`` (its config keys), ``trainer`` and :meth:`_build`.

    Registered as the class; sweepnet calls ``cls().build(options, meta, seed=...)`` once per trial.
    A subclass implements :meth:`_build`, which receives the generator and dtype :meth:`build`
    resolved; one that overrides :meth:`build` itself (as plugins written before ``_build`` do)
    keeps working.
    """

    Options: ClassVar[type[BaseModel]] = NoOptions
    trainer: ClassVar[Trainer] = "solver"

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if cls.build is ModelPlugin.build and cls._build is ModelPlugin._build:
            raise TypeError(f"Can't instantiate model plugin {cls.__name__} without a _build (or build) method")
        return super().__new__(cls)

    def build(
        self,
        options: OptionsT,
        meta: DatasetMeta,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float32,
    ) -> SolverModel | ClassicModel:
        """Build a fresh, initialised model for data described by ``meta``.

        Parameters
        ----------
        options : a validated instance of ``self.Options``.
        meta : input shape, task and number of classes / outputs of the data set.
        seed, rng : seed of, or generator for, everything random in the model (at most one;
            with neither a fresh generator is used, never the global numpy state).
        dtype : dtype of the parameters and of the computation.

        Raises
        ------
        ConfigError
            naming the ``model.*`` field when the options do not fit the data (before any training).
        """
        return self._build(options, meta, resolve_rng(seed, rng), np.dtype(dtype))

    def _build(
        self, options: OptionsT, meta: DatasetMeta, rng: np.random.Generator, dtype: np.dtype
    ) -> SolverModel | ClassicModel:
        """What :meth:`build` does once ``seed`` / ``rng`` became the generator ``rng`` (draw
        everything random from it) and ``dtype`` a ``np.dtype``."""
        raise NotImplementedError  # __new__ refuses a class that overrides neither method

    def count_params(self, options: OptionsT, meta: DatasetMeta) -> int | None:
        """How many parameters :meth:`build` would create for ``options`` and ``meta``, found
        without allocating them; None when the plugin cannot tell.

        sweepnet refuses a trial whose parameters would take more than ``resources.max_model_mb``
        before building its model, so a typo such as ``hidden_dims: [20000000]`` costs an error
        message instead of gigabytes. A model that returns None is built unchecked.

        Raises
        ------
        ConfigError
            naming the ``model.*`` field when the options do not fit the data.
        """
        return None


def resolve_rng(seed: int | None, rng: np.random.Generator | None) -> np.random.Generator:
    """The generator a model draws from: ``rng``, else a new one seeded with ``seed``."""
    if seed is not None and rng is not None:
        raise ValueError("give seed or rng, not both")
    return rng if rng is not None else np.random.default_rng(seed)


def num_outputs(meta: DatasetMeta) -> int:
    """Size of a model's output: the number of classes, or of regression targets."""
    if meta.task == "regression":
        return meta.num_outputs
    if meta.num_classes is None:
        raise ConfigError("data", f"classification data set {meta.name!r} does not say its number of classes")
    return meta.num_classes


_TASK_LOSSES: dict[str, tuple[str, ...]] = {"classification": ("softmax", "svm"), "regression": ("mse",)}


def resolve_loss(loss: LossName | None, meta: DatasetMeta, field: str = "model.loss") -> str:
    """The loss a model trains with: ``loss`` if it suits the task, else its default.

    Parameters
    ----------
    loss : the configured loss, or None for the task's default (softmax, or mse for regression).
    meta : the data set's description.
    field : config path named in the error.

    Raises
    ------
    ConfigError
        when ``loss`` does not suit the task (e.g. softmax on a regression data set).
    """
    allowed = _TASK_LOSSES[meta.task]
    if loss is None:
        return allowed[0]
    if loss not in allowed:
        raise ConfigError(
            field, f"{loss!r} does not suit the {meta.task} data set {meta.name!r}; use one of: {', '.join(allowed)}"
        )
    return loss


def require_classification(meta: DatasetMeta, model: str) -> None:
    """Raise :class:`ConfigError` unless ``meta`` describes a classification data set."""
    if meta.task != "classification":
        raise ConfigError("model.name", f"{model} only does classification, but {meta.name!r} is {meta.task}")
