"""The preprocessing of a data set as a transform of raw samples, kept to apply to new ones.

:func:`sweepnet.data.preprocess.preprocess` builds a :class:`Preprocessing` while it prepares a
sweep's splits (it is ``Dataset.meta.preprocessing``); a saved model keeps it, so that
predictions take inputs in the data set's raw form. Both go through the same steps here, so a
raw test split transformed by :meth:`Preprocessing.apply` equals the preprocessed one bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweepnet.data.features import hog_hsv_features
from sweepnet.errors import DataError

__all__ = ["Preprocessing", "append_ones", "floats_of", "normalise_in_place"]


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """What ``sweepnet.data`` did to the samples a dataset plugin loaded, in this order.

    Attributes
    ----------
    raw_shape : shape of one raw sample, as the plugin loads it, e.g. ``(1, 8, 8)``.
    raw_dtype : dtype of the plugin's training inputs (``"float64"``, ``"uint8"`` ...); new
        inputs are cast to it first, so raw values given as other numbers transform alike.
    features : ``"hog_hsv"`` (HOG + hue-histogram features of colour images) or None.
    flatten : samples reshaped to vectors, ``(N, D)``.
    mean : ``(D,)`` float64 training mean subtracted from every sample, or None.
    scale : ``(D,)`` float64 divisor applied after the mean (the training standard deviation,
        1 where it is about 0), or None.
    bias_trick : a constant 1 appended to every sample, ``(N, D + 1)``.
    """

    raw_shape: tuple[int, ...]
    raw_dtype: str
    features: str | None = None
    flatten: bool = False
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    bias_trick: bool = False

    def apply(self, X: Any) -> np.ndarray:
        """The model inputs for raw samples ``X``; ``X`` itself is not modified.

        Parameters
        ----------
        X : ``(N, *raw_shape)`` raw samples, or ``(N, prod(raw_shape))`` with each one flattened
            (rows of a table); anything ``np.asarray`` takes.

        Returns
        -------
        inputs : ``(N, *input_shape)``, what the model was trained on.

        Raises
        ------
        DataError
            when the samples do not have the raw shape.
        """
        X = self._raw(X)
        if self.features == "hog_hsv":
            X = hog_hsv_features(X)
        if self.flatten:
            X = X.reshape(len(X), -1)
        if self.mean is not None:
            X = floats_of(X, copy=True)
            normalise_in_place(X, self.mean, self.scale)
        if self.bias_trick:
            X = append_ones(X)
        return X

    def _raw(self, X: Any) -> np.ndarray:
        """``X`` as an array of raw samples, ``(N, *raw_shape)`` in ``raw_dtype``."""
        X = np.asarray(X)
        size = math.prod(self.raw_shape)
        if X.ndim == 2 and X.shape[1:] != self.raw_shape and X.shape[1] == size:  # one flattened sample a row
            X = X.reshape(len(X), *self.raw_shape)
        if X.ndim == 0 or X.shape[1:] != self.raw_shape:
            raise DataError(
                f"inputs of shape {X.shape} are not raw samples of shape {self.raw_shape}: give an array "
                f"(N, {', '.join(map(str, self.raw_shape))}) or N rows of {size} values"
            )
        if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise DataError(f"inputs must be numbers, got an array of {X.dtype}")
        return X.astype(self.raw_dtype, copy=False)


def floats_of(x: np.ndarray, *, copy: bool) -> np.ndarray:
    """``x`` as floating point: its own float dtype, float32 for integers (a copy when ``copy``)."""
    return x.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32, copy=copy)


def normalise_in_place(x: np.ndarray, mean: np.ndarray, scale: np.ndarray | None) -> None:
    """``x -= mean``, then ``x /= scale`` when given, in ``x``'s float dtype. ``x: (N, D)``; ``mean, scale: (D,)``."""
    x -= mean.astype(x.dtype)
    if scale is not None:
        x /= scale.astype(x.dtype)


def append_ones(x: np.ndarray) -> np.ndarray:
    """``(N, D) -> (N, D + 1)``: the bias trick's constant 1 after every sample."""
    return np.hstack([x, np.ones((len(x), 1), x.dtype)])
