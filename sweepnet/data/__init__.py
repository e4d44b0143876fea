"""Data sets as sweepnet sees them: arrays plus metadata, loaded once per sweep."""

from __future__ import annotations

from sweepnet.data.dataset import Dataset, DatasetMeta

__all__ = ["Dataset", "DatasetMeta"]
