from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core.vis import visualize_grid


def test_grid_shape_placement_and_per_image_range() -> None:
    Xs = np.random.default_rng(0).standard_normal((5, 4, 6, 3))
    grid = visualize_grid(Xs, padding=2)
    assert grid.shape == (3 * 4 + 2 * 2, 3 * 6 + 2 * 2, 3)  # 5 images need a 3x3 grid
    for i in range(5):
        row, col = divmod(i, 3)
        cell = grid[row * 6 : row * 6 + 4, col * 8 : col * 8 + 6]
        assert cell.min() == 0.0 and cell.max() == pytest.approx(255.0)
        np.testing.assert_allclose(cell, 255.0 * (Xs[i] - Xs[i].min()) / np.ptp(Xs[i]))
    assert np.all(grid[4:6] == 0) and np.all(grid[:, 6:8] == 0)  # padding
    assert np.all(grid[6 + 4 + 2 :, 8:] == 0)  # cells after the last image


def test_ubound_and_constant_images() -> None:
    Xs = np.stack([np.full((2, 2, 1), 7.0), np.arange(4.0).reshape(2, 2, 1)])
    grid = visualize_grid(Xs, ubound=1.0, padding=0)
    assert grid.shape == (4, 4, 1)
    np.testing.assert_array_equal(grid[:2, :2], 0.0)  # a constant image has nothing to show
    np.testing.assert_allclose(grid[:2, 2:, 0], [[0, 1 / 3], [2 / 3, 1]])
    assert grid.min() == 0.0 and grid.max() == 1.0


def test_rejects_other_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        visualize_grid(np.zeros((2, 4, 4)))
