"""Reusable memory for the large arrays of the fast layers.

The first write to freshly allocated memory costs a page fault per page: for the tens of
megabytes a convolution's columns take, about as much again as the write itself, on every call of
a training loop. So each thread keeps the last few large arrays it handed out and hands one out
again, with the same shape and dtype, once nothing but this pool refers to it. A view of an array
refers to the array (numpy views keep their owner alive), so memory still in use anywhere, even
through a slice, is never handed out twice.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

__all__ = ["reusable"]

_MIN_BYTES = 1 << 20  # smaller arrays come from numpy's allocator, which reuses them itself
_POOL_SIZE = 8  # per thread; the oldest array is let go (not freed while still in use) beyond it

_pools = threading.local()


def _references(pool: list[np.ndarray], index: int) -> int:
    return sys.getrefcount(pool[index])


_UNREFERENCED = _references([np.empty(0)], 0)  # what _references counts with only the pool holding it


def reusable(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, on recycled memory when possible.

    The caller may keep it, return it or hand it on like any array: it is recycled only after
    every reference to it (and to any view of it) is gone.
    """
    dtype = np.dtype(dtype)
    if int(np.prod(shape)) * dtype.itemsize < _MIN_BYTES:
        return np.empty(shape, dtype)
    pool: list[np.ndarray] = _pools.__dict__.setdefault("arrays", [])
    for index in range(len(pool)):
        if _references(pool, index) == _UNREFERENCED:  # counted before anything here refers to it
            array = pool[index]
            if array.shape == shape and array.dtype == dtype:
                return array
    array = np.empty(shape, dtype)
    pool.append(array)
    if len(pool) > _POOL_SIZE:
        del pool[0]
    return array
