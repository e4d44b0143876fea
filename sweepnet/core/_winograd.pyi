"""Types of the Cython kernels in ``_winograd.pyx`` (see there for shapes): mypy cannot read the extension."""

import numpy as np

__all__ = ["conv_backward", "conv_forward", "tile_grid"]

def tile_grid(height: int, width: int, pad: int) -> tuple[int, int, int, int]: ...
def conv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int, block_rows: int, out: np.ndarray
) -> np.ndarray: ...
def conv_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, pad: int, block_rows: int, dx: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]: ...
