"""Record SIGINT/SIGTERM instead of dying, so long work can stop at a safe point."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def catch_signals() -> Iterator[list[int]]:
    """Within the block, SIGINT and SIGTERM append their number to the yielded list.

    The caller polls the list at a safe point (after a checkpoint, after a chunk is on disk)
    and stops there. A handler that raises instead can fire inside a garbage-collection
    callback, where Python swallows the exception ("Exception ignored in ..."), and the
    signal would be lost. Outside the main thread, signals cannot be caught: the list stays empty.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
