"""The classic 2-D spiral data set of the CS231n neural-network case study.

``classes`` interleaved spiral arms in the plane, ``points_per_class`` points each, with Gaussian
noise on the angle: not linearly separable, so a linear classifier stalls around 50% while a small
net with one hidden layer gets above 95%.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field, NonNegativeFloat, NonNegativeInt

from sweepnet.plugin import Dataset, DatasetMeta, DatasetPlugin, PluginOptions

__all__ = ["Spiral", "SpiralOptions"]

_Fraction = Annotated[float, Field(gt=0, lt=0.5)]


class SpiralOptions(PluginOptions):
    """Options of the ``spiral`` data set."""

    points_per_class: Annotated[int, Field(ge=10)] = 100
    classes: Annotated[int, Field(ge=2)] = 3
    noise: NonNegativeFloat = 0.2
    val_fraction: _Fraction = 0.2
    test_fraction: _Fraction = 0.2
    seed: NonNegativeInt = 0


class Spiral(DatasetPlugin):
    """2-D spiral arms, one class each (CS231n's classic toy data set), generated and seeded."""

    Options = SpiralOptions

    def load(self, options: SpiralOptions, *, data_home: Path) -> Dataset:
        """Generate the points (nothing is read from ``data_home``) and split them.

        Returns
        -------
        Dataset with ``X_*: (N, 2)`` float32 points and ``y_*: (N,)`` int64 arm indices; the
        splits are stratified shuffles of the ``points_per_class * classes`` points.
        """
        rng = np.random.default_rng(options.seed)
        n, k = options.points_per_class, options.classes
        radius = np.tile(np.linspace(0.0, 1.0, n), k)
        labels = np.repeat(np.arange(k), n)
        angle = np.linspace(0.0, 4.0, n) + 4.0 * labels.reshape(k, n)
        angle = angle.ravel() + options.noise * rng.standard_normal(n * k)
        X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1).astype(np.float32)
        splits = _stratified_split(labels, options.val_fraction, options.test_fraction, rng)
        arrays = [array for index in splits for array in (X[index], labels[index])]
        for array in arrays:
            array.setflags(write=False)
        return Dataset(DatasetMeta("spiral", "classification", (2,), num_classes=k), *arrays)


def _stratified_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled train / val / test indices holding each class in the same proportions."""
    train, val, test = [], [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val, n_test = round(val_fraction * len(members)), round(test_fraction * len(members))
        val.append(members[:n_val])
        test.append(members[n_val : n_val + n_test])
        train.append(members[n_val + n_test :])
    return tuple(rng.permutation(np.concatenate(part)) for part in (train, val, test))
