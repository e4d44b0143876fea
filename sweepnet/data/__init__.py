"""Data sets as sweepnet sees them: arrays plus metadata, loaded once per sweep."""

from __future__ import annotations

from sweepnet.data.dataset import Dataset, DatasetMeta
from sweepnet.data.folds import kfold_indices
from sweepnet.data.home import resolve_data_home
from sweepnet.data.load import load_dataset
from sweepnet.data.plugin import DatasetPlugin
from sweepnet.data.spec import DataSpec

__all__ = ["DataSpec", "Dataset", "DatasetMeta", "DatasetPlugin", "kfold_indices", "load_dataset", "resolve_data_home"]
