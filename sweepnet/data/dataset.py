"""The :class:`Dataset` every dataset plugin returns and every model is built for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from sweepnet.data.transform import Preprocessing

__all__ = ["Dataset", "DatasetMeta"]

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class DatasetMeta:
    """What a model needs to know about its data.

    Attributes
    ----------
    name : registered name of the dataset plugin that produced the data.
    task : ``"classification"`` (integer labels ``y: (N,)``) or ``"regression"``
        (float targets ``y: (N,)`` or ``(N, num_outputs)``).
    input_shape : shape of one sample, e.g. ``(1, 8, 8)`` for images or ``(64,)`` when flat.
    num_classes : number of classes (classification only).
    num_outputs : regression targets per sample (1 for classification).
    class_names : optional human-readable class names, ``len == num_classes``.
    preprocessing : how ``sweepnet.data`` turned the plugin's raw samples into these inputs
        (statistics included), to apply to new raw inputs; None as a plugin returns it.
    """

    name: str
    task: Task
    input_shape: tuple[int, ...]
    num_classes: int | None = None
    num_outputs: int = 1
    class_names: tuple[str, ...] | None = None
    preprocessing: Preprocessing | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits plus metadata.

    Arrays are read-only (``flags.writeable == False``) so that one materialised copy can be
    shared by every trial of a sweep. ``X_*: (N, *meta.input_shape)``; ``y_*: (N,)``.

    ``folds`` holds the ``data.cv`` cross-validation folds over the training split: k pairs
    ``(train_idx, val_idx)`` of int64 indices into ``X_train`` (empty without ``cv``). Trials
    index with them rather than copying the data up front.
    """

    meta: DatasetMeta
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
