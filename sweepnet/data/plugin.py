"""The base class of dataset plugins."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from sweepnet.data.dataset import Dataset

__all__ = ["DatasetPlugin", "NoOptions"]


class NoOptions(BaseModel):
    """Options of a plugin that takes none."""

    model_config = ConfigDict(extra="forbid")


class DatasetPlugin(ABC):
    """Loads one data set's raw train / val / test splits.

    Subclasses set ``Options`` (a pydantic model of their plugin-specific config keys, with
    ``extra="forbid"``) and implement :meth:`load`. Generic preprocessing (subsampling, mean
    subtraction, flattening, features, CV folds) is applied afterwards by ``sweepnet.data``,
    so ``load`` returns the data in its natural shape, e.g. images as ``(N, C, H, W)``.
    """

    Options: ClassVar[type[BaseModel]] = NoOptions

    @abstractmethod
    def load(self, options: BaseModel, *, data_home: Path) -> Dataset:
        """Return the splits; raise ``sweepnet.errors.DataError`` naming the path when files are missing.

        Writeable arrays are handed over: preprocessing may normalise them in place (so that a
        large data set is not copied). Return read-only arrays for data the plugin keeps.

        Parameters
        ----------
        options : a validated instance of ``self.Options``.
        data_home : directory where downloaded data sets live (``data.data_dir`` of the config,
            else ``$SWEEPNET_DATA``, else ``~/.sweepnet/data``).
        """
