"""Ctrl-C as a flag: code that must finish what it is doing (stop trials, save unwritten records)
polls the flag instead of being interrupted at an arbitrary line."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["sigint_flag"]


@contextmanager
def sigint_flag() -> Iterator[threading.Event]:
    """While inside, Ctrl-C sets the yielded flag instead of raising; a second one raises as usual.

    Off the main thread (where signals never arrive) the flag is never set.
    """
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: object) -> None:
        flag.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, interrupt)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
