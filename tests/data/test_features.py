"""The HOG + hue-histogram transform matches the classic features and is cached on disk."""

from __future__ import annotations

import numpy as np
import pytest

import sweepnet.core.features
from sweepnet.core.features import color_histogram_hsv, extract_features, hog_feature
from sweepnet.data.features import hog_hsv_features


@pytest.fixture
def images():
    """(5, 3, 16, 16) RGB pixel values in [0, 255]."""
    return np.random.default_rng(0).integers(0, 256, (5, 3, 16, 16)).astype(np.float32)


def test_features_are_those_of_the_classic_exercise(images):
    expected = extract_features(images.transpose(0, 2, 3, 1), [hog_feature, color_histogram_hsv])
    features = hog_hsv_features(images)
    assert features.shape == (5, 2 * 2 * 9 + 10) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected, rtol=1e-6)


def test_hue_bins_are_configurable(images):
    assert hog_hsv_features(images, nbin=4).shape == (5, 2 * 2 * 9 + 4)


def test_second_call_reads_the_cache(images, tmp_path, monkeypatch):
    first = hog_hsv_features(images, cache_dir=tmp_path / "cache")
    [cached] = (tmp_path / "cache").iterdir()
    assert cached.suffix == ".npy" and not cached.name.startswith(".")

    def refuse(*args, **kwargs):
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr(sweepnet.core.features, "extract_features", refuse)
    np.testing.assert_array_equal(hog_hsv_features(images, cache_dir=tmp_path / "cache"), first)


def test_cache_key_depends_on_the_pixels_and_the_transform(images, tmp_path):
    hog_hsv_features(images, cache_dir=tmp_path)
    hog_hsv_features(images, nbin=4, cache_dir=tmp_path)
    changed = images.copy()
    changed[0, 0, 0, 0] += 1
    hog_hsv_features(changed, cache_dir=tmp_path)
    hog_hsv_features(images[:4], cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 4


def test_an_unwritable_cache_only_warns(images, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.warns(UserWarning, match="cannot cache features"):
        features = hog_hsv_features(images, cache_dir=blocker / "cache")
    assert features.shape == (5, 46)
