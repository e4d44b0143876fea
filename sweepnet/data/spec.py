"""The ``data:`` section of a sweep file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

__all__ = ["DataSpec"]


class DataSpec(BaseModel):
    """Which data set to load and how to preprocess it, e.g.::

        data:
          name: cifar10
          options: {num_training: 49000}
          num_train: 5000
          features: hog_hsv
          subtract_mean: true
          bias_trick: true

    Preprocessing runs in the order of the fields below; every statistic (mean, standard
    deviation) comes from the training split only.

    Attributes
    ----------
    name : registered dataset plugin.
    options : the plugin's own options, validated by its ``Options`` model.
    data_dir : data home for downloaded sets (default ``$SWEEPNET_DATA``, else ``~/.sweepnet/data``).
    num_train, num_val, num_test : keep only the first so many samples of a split (the
        plugins' splits are already shuffled, so this is a deterministic random subset).
    features : ``"hog_hsv"``: replace colour images ``(N, 3, H, W)`` by the HOG and hue-histogram
        features of the classic features exercise; cached on disk under the data home.
    flatten : reshape samples to vectors, ``(N, D)``.
    subtract_mean : subtract the training mean of every input dimension.
    standardize : z-scores: subtract the training mean and divide by the training standard
        deviation of every input dimension (constant dimensions are only centred).
    bias_trick : flatten and append a constant 1 to every sample, ``(N, D + 1)``, for the
        linear classifiers that fold the bias into ``W``.
    cv : number of stratified (for classification) cross-validation folds over the
        training split, as index arrays in ``Dataset.folds``; the holdout split stays.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "digits"
    options: dict[str, Any] = Field(default_factory=dict)
    data_dir: Path | None = None
    num_train: PositiveInt | None = None
    num_val: PositiveInt | None = None
    num_test: PositiveInt | None = None
    features: Literal["hog_hsv"] | None = None
    flatten: bool = False
    subtract_mean: bool = False
    standardize: bool = False
    bias_trick: bool = False
    cv: int | None = Field(default=None, ge=2)
