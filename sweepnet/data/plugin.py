"""The base class of dataset plugins."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel

from sweepnet.data.dataset import Dataset
from sweepnet.data.download import DownloadSource
from sweepnet.options import NoOptions

__all__ = ["DatasetPlugin", "NoOptions"]


OptionsT = TypeVar("OptionsT", bound=BaseModel)


class DatasetPlugin(ABC, Generic[OptionsT]):
    """Loads one data set's raw train / val / test splits.

    Subclasses set ``Options`` (a :class:`~sweepnet.options.PluginOptions` model of their
    plugin-specific config keys) and implement :meth:`load`. Generic preprocessing (subsampling,
    mean subtraction, flattening, features, CV folds) is applied afterwards by ``sweepnet.data``,
    so ``load`` returns the data in its natural shape, e.g. images as ``(N, C, H, W)``.

    A data set that is downloaded sets ``source``: then ``sweepnet data download NAME`` fetches,
    verifies and unpacks it into ``data_home / source.folder``, and ``load`` starts with
    ``folder = require(NAME, self.source, data_home)`` (:func:`sweepnet.data.download.require`),
    which names the download command when the files are missing.
    """

    Options: ClassVar[type[BaseModel]] = NoOptions
    source: ClassVar[DownloadSource | None] = None

    @abstractmethod
    def load(self, options: OptionsT, *, data_home: Path) -> Dataset:
        """Return the splits; raise ``sweepnet.errors.DataError`` naming the path when files are missing.

        Writeable arrays are handed over: preprocessing may normalise them in place (so that a
        large data set is not copied). Return read-only arrays for data the plugin keeps.

        Never unpickle a downloaded file (it can run code); parse it, or use a restricted reader
        such as :func:`sweepnet.core.data_utils.read_CIFAR10`.

        Parameters
        ----------
        options : a validated instance of ``self.Options``.
        data_home : directory where downloaded data sets live (``data.data_dir`` of the config,
            else ``$SWEEPNET_DATA``, else ``~/.sweepnet/data``).
        """
