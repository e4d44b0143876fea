"""The reusable memory of the fast layers (recycled only once nothing refers to it) and the cache
size their blocks are cut for."""

from __future__ import annotations

import threading

import numpy as np

from sweepnet.core import _workspace
from sweepnet.core._workspace import reusable

SHAPE = (512, 1024)  # 2 MiB of float32: large enough to be pooled


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def test_memory_nobody_holds_is_handed_out_again():
    first = reusable(SHAPE, np.float32)
    address = _address(first)
    del first
    again = reusable(SHAPE, np.float32)
    assert _address(again) == address and again.shape == SHAPE and again.dtype == np.float32


def test_memory_still_held_directly_through_a_view_or_a_tuple_is_not_reused():
    held = reusable(SHAPE, np.float32)
    view = reusable(SHAPE, np.float32)[:3]  # only the slice survives
    in_a_tuple = (reusable(SHAPE, np.float32),)
    addresses = {_address(held), _address(view), _address(in_a_tuple[0])}
    assert len(addresses) == 3
    assert _address(reusable(SHAPE, np.float32)) not in addresses


def test_a_different_shape_or_dtype_gets_its_own_memory():
    first = reusable(SHAPE, np.float32)
    address = _address(first)
    del first
    assert _address(reusable((1024, 512), np.float32)) != address
    assert _address(reusable(SHAPE, np.float64)) != address


def test_memory_free_in_another_threads_pool_is_not_handed_out_here():
    taken, done = threading.Event(), threading.Event()
    addresses: list[int] = []

    def take_and_let_go() -> None:
        addresses.append(_address(reusable(SHAPE, np.float32)))  # only that thread's pool keeps it
        taken.set()
        done.wait(timeout=30)

    thread = threading.Thread(target=take_and_let_go)
    thread.start()
    taken.wait(timeout=30)
    try:
        assert _address(reusable(SHAPE, np.float32)) != addresses[0]
    finally:
        done.set()
        thread.join()


def test_small_arrays_are_plain_new_arrays():
    small = reusable((4, 4), np.float64)
    address = _address(small)
    assert _address(reusable((4, 4), np.float64)) != address


def _cache_index(root, name, level, kind, size, shared):
    index = root / name
    index.mkdir(parents=True)
    for field, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
        (index / field).write_text(f"{value}\n")


def test_cache_share_sums_l2_and_l3_per_cpu_from_sysfs(tmp_path):
    _cache_index(tmp_path, "index0", 1, "Data", "32K", "0")
    _cache_index(tmp_path, "index1", 1, "Instruction", "32K", "0")
    _cache_index(tmp_path, "index2", 2, "Unified", "1024K", "0,28")  # two hyperthreads share it
    _cache_index(tmp_path, "index3", 3, "Unified", "39424K", "0-27,56-83")
    assert _workspace._sysfs_cache_bytes(tmp_path) == (1024 << 10) // 2 + (39424 << 10) // 56


def test_cache_share_is_none_without_a_description(tmp_path):
    assert _workspace._sysfs_cache_bytes(tmp_path) is None
    _cache_index(tmp_path, "index0", 1, "Data", "48K", "0")
    (tmp_path / "index2").mkdir()  # unreadable entries are skipped
    assert _workspace._sysfs_cache_bytes(tmp_path) is None


def test_cache_bytes_falls_back_to_a_typical_core(monkeypatch, tmp_path):
    monkeypatch.setattr(_workspace, "_CPU_CACHES", tmp_path / "missing")
    monkeypatch.setattr(_workspace, "_sysconf_cache_bytes", lambda: None)
    _workspace.cache_bytes.cache_clear()
    try:
        assert _workspace.cache_bytes() == 3 << 20
    finally:
        _workspace.cache_bytes.cache_clear()


def test_cache_bytes_of_this_machine_is_at_least_its_l2():
    assert _workspace.cache_bytes() >= 64 << 10
