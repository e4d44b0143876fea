"""Where downloaded data sets live."""

from __future__ import annotations

import os
from pathlib import Path

from sweepnet.core.data_utils import default_data_home

__all__ = ["resolve_data_home"]


def resolve_data_home(data_dir: str | os.PathLike | None = None) -> Path:
    """The data home: ``data_dir`` (``data.data_dir`` of the config), else ``$SWEEPNET_DATA``,
    else ``~/.sweepnet/data``."""
    return Path(data_dir).expanduser() if data_dir is not None else default_data_home()
