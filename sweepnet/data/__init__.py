"""Data sets as sweepnet sees them: arrays plus metadata, loaded once per sweep."""

from __future__ import annotations

from sweepnet.data.dataset import Dataset, DatasetMeta
from sweepnet.data.plugin import DatasetPlugin

__all__ = ["Dataset", "DatasetMeta", "DatasetPlugin"]
