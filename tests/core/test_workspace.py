"""The reusable memory of the fast layers: recycled only once nothing refers to it."""

from __future__ import annotations

import threading

import numpy as np

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
