"""Memory for the large arrays of the fast layers: recycled arrays, and the cache they are sized for.

The first write to freshly allocated memory costs a page fault per page: for the tens of
megabytes a convolution's columns take, about as much again as the write itself, on every call of
a training loop. So each thread keeps the last few large arrays it handed out and hands one out
again, with the same shape and dtype, once nothing but this pool refers to it. A view of an array
refers to the array (numpy views keep their owner alive), so memory still in use anywhere, even
through a slice, is never handed out twice.

:func:`cache_bytes` is how much cache one thread may count on, from the sizes the machine
reports: the fast layers size their blocks so that what a block writes is still in cache when
the next step reads it.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from pathlib import Path

import numpy as np

__all__ = ["cache_bytes", "reusable"]

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


_CPU_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")
# When the machine does not say (not Linux, a container hiding /sys): the per-core L2 and L3
# share of common x86 server parts (a 1 MiB L2 and 1.4-4 MiB of L3 per core).
_FALLBACK_CACHE_BYTES = (1 << 20) + (2 << 20)


def _cpu_count(cpu_list: str) -> int:
    """Number of CPUs in a list like ``"0-3,8-11"``."""
    count = 0
    for part in cpu_list.strip().split(","):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


def _size_bytes(size: str) -> int:
    """``"512K"``, ``"32M"`` or ``"1024"`` in bytes."""
    size = size.strip()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:].upper(), 1)
    return int(size.rstrip("KkMmGg")) * scale


def _sysfs_cache_bytes(root: Path) -> int | None:
    """Per-CPU share of the unified/data caches of level 2 and up, from Linux's cache description
    (``index*/level``, ``type``, ``size``, ``shared_cpu_list``); None when it is not there."""
    total = 0
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _size_bytes((index / "size").read_text())
            sharing = _cpu_count((index / "shared_cpu_list").read_text())
        except (OSError, ValueError):
            continue
        if level >= 2 and kind in ("Unified", "Data"):
            total += size // max(sharing, 1)
    return total or None


def _sysconf_cache_bytes() -> int | None:
    """L2 plus an equal share of the L3 per CPU, as ``os.sysconf`` reports them (glibc), where
    this Python knows the names; sysconf does not say which CPUs share the L3, so all do."""
    sizes = []
    for name in ("SC_LEVEL2_CACHE_SIZE", "SC_LEVEL3_CACHE_SIZE"):
        try:
            sizes.append(max(os.sysconf(name), 0))
        except (ValueError, OSError):
            sizes.append(0)
    return sizes[0] + sizes[1] // (os.cpu_count() or 1) or None


@functools.cache
def cache_bytes() -> int:
    """Bytes of L2 and L3 cache one thread may count on: its L2 plus its share of the L3.

    Read once from ``/sys/devices/system/cpu/cpu0/cache`` (Linux), else ``os.sysconf``, else
    3 MiB (a 1 MiB L2 and 2 MiB of L3 per core).
    """
    return _sysfs_cache_bytes(_CPU_CACHES) or _sysconf_cache_bytes() or _FALLBACK_CACHE_BYTES
