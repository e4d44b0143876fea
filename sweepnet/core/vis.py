"""Tiling a batch of images (or first-layer weights) into one picture."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["visualize_grid"]


def visualize_grid(Xs: np.ndarray, ubound: float = 255.0, padding: int = 1) -> np.ndarray:
    """Lay images out on a square grid, each rescaled to [0, ubound] on its own.

    Parameters
    ----------
    Xs : (N, H, W, C) images, e.g. first-layer weights reshaped to channels-last.
    ubound : the largest value of each rescaled image; a constant image becomes all zeros.
    padding : pixels of zeros between neighbouring images.

    Returns
    -------
    grid : (G * H + (G - 1) * padding, G * W + (G - 1) * padding, C) with ``G = ceil(sqrt(N))``;
        cells beyond the N-th image stay zero.
    """
    if Xs.ndim != 4:
        raise ValueError(f"visualize_grid expects Xs of shape (N, H, W, C), got {Xs.shape}")
    N, H, W, C = Xs.shape
    grid_size = math.ceil(math.sqrt(N))
    grid = np.zeros((H * grid_size + padding * (grid_size - 1), W * grid_size + padding * (grid_size - 1), C))
    low = Xs.min(axis=(1, 2, 3), keepdims=True)
    span = Xs.max(axis=(1, 2, 3), keepdims=True) - low
    scaled = ubound * (Xs - low) / np.where(span > 0, span, 1)
    for i, img in enumerate(scaled):
        row, col = divmod(i, grid_size)
        top, left = row * (H + padding), col * (W + padding)
        grid[top : top + H, left : left + W] = img
    return grid
