from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core.features import color_histogram_hsv, extract_features, hog_feature

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _vertical_edge(height: int = 32, width: int = 32, column: int = 20) -> np.ndarray:
    """(height, width) grayscale image, dark left of ``column`` and bright from it on."""
    image = np.zeros((height, width))
    image[:, column:] = 255.0
    return image


def test_hog_shape_is_cells_times_nine_orientations() -> None:
    rng = np.random.default_rng(0)
    assert hog_feature(rng.uniform(0, 255, (32, 32, 3))).shape == (4 * 4 * 9,)
    assert hog_feature(rng.uniform(0, 255, (30, 45, 3))).shape == (3 * 5 * 9,)  # partial cells dropped
    assert hog_feature(rng.uniform(0, 255, (16, 24))).shape == (2 * 3 * 9,)


def test_hog_of_a_constant_image_is_zero() -> None:
    np.testing.assert_array_equal(hog_feature(np.full((32, 32, 3), 77.0)), 0.0)


def test_hog_puts_a_vertical_edge_in_the_90_degree_bin_of_its_cells() -> None:
    hist = hog_feature(_vertical_edge(column=20)).reshape(4, 4, 9)  # (cell column, cell row, orientation)
    # The horizontal gradient at column 19 lies in cell column 2, orientation 0 + 90 -> bin [80, 100).
    expected = np.zeros((4, 4, 9))
    expected[2, :, 4] = 255.0 / 8  # one gradient column of magnitude 255 averaged over 8x8 pixels
    np.testing.assert_allclose(hist, expected, atol=1e-9)


def test_hog_bins_a_diagonal_edge_at_135_degrees() -> None:
    rows, cols = np.indices((40, 40))
    # The staircase stays off the last row and column, where one of the differences is missing.
    hist = hog_feature(255.0 * (rows + cols > 31)).reshape(5, 5, 9)
    # gx = gy > 0 along the anti-diagonal: 45 + 90 = 135 degrees -> bin [120, 140).
    np.testing.assert_allclose(np.delete(hist, 6, axis=2), 0.0, atol=1e-9)
    assert np.sum(hist[:, :, 6]) > 0


def test_hog_of_gray_rgb_is_the_grayscale_hog_scaled_by_the_classic_luma_weights() -> None:
    gray = np.random.default_rng(1).uniform(0, 255, (32, 32))
    rgb = np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    np.testing.assert_allclose(hog_feature(rgb), (0.299 + 0.587 + 0.144) * hog_feature(gray), rtol=1e-12, atol=1e-9)


def test_hog_rejects_other_shapes() -> None:
    with pytest.raises(ValueError, match="hog_feature"):
        hog_feature(np.zeros(32))


def test_hue_histogram_of_pure_colours() -> None:
    red = np.full((8, 8, 3), RED, dtype=float)
    np.testing.assert_array_equal(color_histogram_hsv(red), np.eye(10)[0])

    half_green_half_blue = np.full((8, 8, 3), GREEN, dtype=float)
    half_green_half_blue[4:] = BLUE
    # Hue 1/3 -> 85 lies in bin 3, hue 2/3 -> 170 in bin 6 of [0, 255] split into 10.
    hist = color_histogram_hsv(half_green_half_blue)
    np.testing.assert_allclose(hist, 0.5 * (np.eye(10)[3] + np.eye(10)[6]))
    counts = color_histogram_hsv(half_green_half_blue, nbin=5, normalized=False)
    np.testing.assert_array_equal(counts, [0, 32, 0, 32, 0])


def test_normalised_hue_histogram_sums_to_one() -> None:
    image = np.random.default_rng(2).uniform(0, 255, (32, 32, 3))
    hist = color_histogram_hsv(image, nbin=25)
    assert hist.shape == (25,)
    assert np.sum(hist) == pytest.approx(1.0)
    assert np.sum(color_histogram_hsv(image, normalized=False)) == 32 * 32


def test_extract_features_stacks_every_function_for_every_image(capsys: pytest.CaptureFixture[str]) -> None:
    imgs = np.random.default_rng(3).uniform(0, 255, (3, 32, 32, 3))
    features = extract_features(imgs, [hog_feature, color_histogram_hsv])
    assert features.shape == (3, 144 + 10)
    for img, row in zip(imgs, features, strict=True):
        np.testing.assert_array_equal(row, np.concatenate([hog_feature(img), color_histogram_hsv(img)]))
    assert capsys.readouterr().out == ""


def test_extract_features_squeezes_single_channel_images_and_reports_progress(
    capsys: pytest.CaptureFixture[str],
) -> None:
    imgs = np.arange(2000 * 4, dtype=float).reshape(2000, 2, 2, 1)
    features = extract_features(imgs, [lambda im: im.ravel() if im.ndim == 2 else None], verbose=True)
    np.testing.assert_array_equal(features, imgs.reshape(2000, 4))
    assert capsys.readouterr().out.splitlines() == [
        "Done extracting features for 1000 / 2000 images",
        "Done extracting features for 2000 / 2000 images",
    ]


def test_extract_features_edge_cases() -> None:
    assert extract_features(np.zeros((0, 8, 8, 3)), [hog_feature]).shape == (0, 0)
    with pytest.raises(ValueError, match="1-D"):
        extract_features(np.zeros((1, 8, 8, 3)), [lambda im: im])
