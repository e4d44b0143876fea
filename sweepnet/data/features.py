"""The HOG + hue-histogram feature transform of the classic features exercise, cached on disk."""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from functools import partial
from pathlib import Path

import numpy as np

__all__ = ["hog_hsv_features"]

# Part of the cache key: bump it whenever the transform's output changes.
_TRANSFORM_VERSION = "hog_hsv-1"


def hog_hsv_features(images: np.ndarray, *, nbin: int = 10, cache_dir: Path | None = None) -> np.ndarray:
    """HOG and hue-histogram features of colour images, as in the classic features exercise.

    Computing them takes minutes for CIFAR-10, so the result is stored in ``cache_dir`` under a
    hash of the pixels and the transform, and read back (``allow_pickle=False``) next time.

    Parameters
    ----------
    images : (N, 3, H, W) RGB pixel values in [0, 255], H and W multiples of 8.
    nbin : bins of the hue histogram.
    cache_dir : where cached features live; None disables the cache.

    Returns
    -------
    features : (N, (H // 8) * (W // 8) * 9 + nbin) float32, HOG first.
    """
    path = None if cache_dir is None else cache_dir / f"{_cache_key(images, nbin)}.npy"
    if path is not None and path.is_file():
        cached = _read_cache(path, len(images))
        if cached is not None:
            return cached

    from sweepnet.core.features import color_histogram_hsv, extract_features, hog_feature

    channels_last = images.transpose(0, 2, 3, 1)
    features = extract_features(channels_last, [hog_feature, partial(color_histogram_hsv, nbin=nbin)])
    features = features.astype(np.float32)
    if path is not None:
        _save_atomically(path, features)
    return features


def _read_cache(path: Path, count: int) -> np.ndarray | None:
    """The features cached at ``path`` (never unpickled), or None, with a warning, when the file
    is not ``count`` rows of float32 (damaged, or planted): they are computed again."""
    try:
        cached = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        warnings.warn(f"ignoring the unreadable feature cache {path}: {err}", stacklevel=3)
        return None
    if cached.dtype != np.float32 or cached.ndim != 2 or len(cached) != count:
        warnings.warn(f"ignoring the feature cache {path}: {cached.dtype} {cached.shape}", stacklevel=3)
        return None
    return cached


def _cache_key(images: np.ndarray, nbin: int) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{_TRANSFORM_VERSION} nbin={nbin} {images.dtype.str} {images.shape}".encode())
    digest.update(np.ascontiguousarray(images).data)
    return f"{_TRANSFORM_VERSION}-{digest.hexdigest()}"


def _save_atomically(path: Path, array: np.ndarray) -> None:
    # Written under a temporary name and renamed, so a reader never sees half a file. A sweep
    # must not fail because its cache cannot be written; it only gets slower.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
    except OSError as err:
        warnings.warn(f"cannot cache features in {path.parent}: {err}", stacklevel=3)
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, path)
    except OSError as err:
        warnings.warn(f"cannot cache features in {path.parent}: {err}", stacklevel=3)
    finally:
        Path(tmp).unlink(missing_ok=True)
