"""The generic preprocessing of the ``data:`` section, applied after a plugin loaded the raw splits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from sweepnet.data.dataset import Dataset, DatasetMeta
from sweepnet.data.features import hog_hsv_features
from sweepnet.data.folds import kfold_indices
from sweepnet.data.spec import DataSpec
from sweepnet.data.transform import Preprocessing, append_ones, floats_of, normalise_in_place
from sweepnet.errors import ConfigError

__all__ = ["preprocess"]

_SPLITS = ("train", "val", "test")
_CHUNK_ROWS = 1024  # rows per step of the standard deviation, to bound its temporaries
_MIN_STD = 1e-8  # constant inputs (e.g. the border pixels of digits) are left unscaled


def preprocess(dataset: Dataset, spec: DataSpec, *, cache_dir: Path | None = None) -> Dataset:
    """Apply the preprocessing of ``spec`` and return read-only splits.

    Steps, in order: subsample (``num_train`` / ``num_val`` / ``num_test`` keep the first
    samples), ``features``, ``flatten``, ``subtract_mean`` / ``standardize`` (statistics of the
    training split only), ``bias_trick``, ``cv`` folds. Writeable float arrays of ``dataset`` are
    modified in place, so that normalising CIFAR-10 does not need a second copy of it.

    Parameters
    ----------
    dataset : the splits as a plugin loaded them, ``X_*: (N, *meta.input_shape)``.
    cache_dir : where computed features are cached (None: not cached).

    Returns
    -------
    dataset : ``meta.input_shape`` updated (e.g. ``(D,)`` after flatten, ``(D + 1,)`` after the
        bias trick) and ``meta.preprocessing`` the transform of raw samples (its statistics
        included), to apply to new inputs; every array has ``flags.writeable == False``.
    """
    meta = dataset.meta
    X = {"train": dataset.X_train, "val": dataset.X_val, "test": dataset.X_test}
    y = {"train": dataset.y_train, "val": dataset.y_val, "test": dataset.y_test}
    for split in _SPLITS:
        X[split], y[split] = _first(X[split], y[split], getattr(spec, f"num_{split}"), split, meta)
    raw_shape, raw_dtype = tuple(meta.input_shape), X["train"].dtype.name
    if spec.features == "hog_hsv":
        _require_colour_images(meta)
        X = {split: hog_hsv_features(x, cache_dir=cache_dir) for split, x in X.items()}
    flatten = spec.flatten or spec.bias_trick
    if flatten:
        X = {split: x.reshape(len(x), -1) for split, x in X.items()}
    mean = scale = None
    if spec.subtract_mean or spec.standardize:
        X = _owned_floats(X)
        mean, scale = _statistics(X["train"], standardize=spec.standardize)
        for x in X.values():
            normalise_in_place(x, mean, scale)
    if spec.bias_trick:
        X = {split: append_ones(x) for split, x in X.items()}
    folds = _folds(y["train"], spec.cv, meta) if spec.cv else ()
    transform = Preprocessing(raw_shape, raw_dtype, spec.features, flatten, mean, scale, spec.bias_trick)
    meta = dataclasses.replace(meta, input_shape=tuple(X["train"].shape[1:]), preprocessing=transform)
    train, val, test = ((_read_only(X[split]), _read_only(y[split])) for split in _SPLITS)
    folds = tuple((_read_only(fold_train), _read_only(fold_val)) for fold_train, fold_val in folds)
    return Dataset(meta, *train, *val, *test, folds=folds)


def _first(
    x: np.ndarray, y: np.ndarray, count: int | None, split: str, meta: DatasetMeta
) -> tuple[np.ndarray, np.ndarray]:
    if count is None:
        return x, y
    if count > len(x):
        reason = f"{count} exceeds the {len(x)} samples of the {split} split of {meta.name}"
        raise ConfigError(f"data.num_{split}", reason)
    return x[:count], y[:count]  # views: subsampling copies nothing


def _require_colour_images(meta: DatasetMeta) -> None:
    shape = meta.input_shape
    if len(shape) != 3 or shape[0] != 3 or shape[1] < 8 or shape[2] < 8:
        raise ConfigError(
            "data.features", f"hog_hsv needs colour images (3, H, W) of at least 8x8; {meta.name} gives {shape}"
        )


def _statistics(train: np.ndarray, *, standardize: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The float64 training mean ``(D,)`` of every input dimension and, when ``standardize``, its
    divisor ``(D,)``: the standard deviation, 1 for (nearly) constant dimensions."""
    mean = train.mean(axis=0, dtype=np.float64)
    if not standardize:
        return mean, None
    std = _std(train, mean)
    return mean, np.where(std < _MIN_STD, 1.0, std)


def _owned_floats(X: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The splits as float arrays that may be modified in place without touching each other."""
    owned: dict[str, np.ndarray] = {}
    for split, x in X.items():
        floating = np.issubdtype(x.dtype, np.floating)
        overlaps = any(np.may_share_memory(x, other) for other in owned.values())
        if not floating or not x.flags.writeable or overlaps:
            x = floats_of(x, copy=True)
        owned[split] = x
    return owned


def _std(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    # np.std would materialise ``x - mean`` at once: another copy of the whole training set.
    squares = np.zeros_like(mean)
    for start in range(0, len(x), _CHUNK_ROWS):
        squares += np.square(x[start : start + _CHUNK_ROWS] - mean).sum(axis=0)
    return np.sqrt(squares / len(x))


def _folds(y: np.ndarray, k: int, meta: DatasetMeta) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    try:
        return kfold_indices(y, k, stratified=meta.task == "classification")
    except ValueError as err:
        raise ConfigError("data.cv", f"cannot make {k} folds of the training split of {meta.name}: {err}") from None


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
