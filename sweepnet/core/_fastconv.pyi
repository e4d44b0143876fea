"""Types of the Cython kernels in ``_fastconv.pyx`` (see there for shapes): mypy cannot read the extension."""

import numpy as np

def im2col(
    x: np.ndarray,
    field_height: int,
    field_width: int,
    pad: int,
    stride: int,
    out: np.ndarray | None = None,
    rows: tuple[int, int] | None = None,
) -> np.ndarray: ...
def col2im(
    cols: np.ndarray,
    N: int,
    C: int,
    H: int,
    W: int,
    field_height: int,
    field_width: int,
    pad: int,
    stride: int,
    out: np.ndarray | None = None,
    rows: tuple[int, int] | None = None,
) -> np.ndarray: ...
def max_pool_forward(
    x: np.ndarray, pool_height: int, pool_width: int, stride: int
) -> tuple[np.ndarray, np.ndarray]: ...
def max_pool_backward(
    dout: np.ndarray,
    argmax: np.ndarray,
    H: int,
    W: int,
    pool_height: int,
    pool_width: int,
    stride: int,
    out: np.ndarray | None = None,
) -> np.ndarray: ...
