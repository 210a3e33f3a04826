"""Record SIGINT/SIGTERM instead of dying, so long work can stop at a safe point.

Also the deterministic fault injection the reliability tests use: ``PDEJAX_FAULT=<stage>``
makes :func:`fault_point` send this process a signal at that stage (see its docstring).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_quiet_exit = False


def fault_point(stage: str) -> None:
    """Send this process a signal here if ``PDEJAX_FAULT`` names ``stage`` (for tests).

    ``PDEJAX_FAULT`` is a comma-separated list of stages; ``PDEJAX_FAULT_SIGNAL`` names the
    signal (default ``SIGINT``) and ``PDEJAX_FAULT_REPEAT`` how many to send (default 1).
    The stages: ``train:after_lock``, ``train:after_build``, ``train:after_config``,
    ``train:before_first_step``, ``train:after_checkpoint:<step>``, ``train:cleanup``
    (while a run that never started is removed), ``stopping`` (the CLI has begun to
    ignore further signals), ``data:chunk:<i>`` (after chunk ``i`` is on disk). Python
    runs the handler at once, so the effect is what a user's Ctrl-C there would do.
    """
    stages = os.environ.get("PDEJAX_FAULT")
    if not stages or stage not in stages.split(","):
        return
    signum = signal.Signals[os.environ.get("PDEJAX_FAULT_SIGNAL", "SIGINT")]
    for _ in range(int(os.environ.get("PDEJAX_FAULT_REPEAT", "1"))):
        os.kill(os.getpid(), signum)


def _ignore(signum, frame) -> None:
    pass


class Terminated(KeyboardInterrupt):
    """SIGTERM outside :func:`catch_signals`, under :func:`quiet_exit`: unwinds like Ctrl-C."""

    signum = signal.SIGTERM


def _terminate(signum, frame) -> None:
    raise Terminated


def quiet_exit(enabled: bool = True) -> None:
    """The CLI's policy: stop signals unwind, and once one arrived, further ones are ignored.

    Outside :func:`catch_signals`, SIGTERM raises :class:`Terminated` (a
    ``KeyboardInterrupt``, as SIGINT does) instead of killing the process, so clean-up
    code runs for both. After the first stop signal the process is ending: a second or
    third Ctrl-C while the checkpoint is saved, the run directory cleaned or worker threads
    joined at exit would otherwise print a trace ("Exception ignored in threading") or
    leave the clean-up half done. A library caller (a notebook) keeps Python's defaults:
    after ``Interrupted``, Ctrl-C works as before.
    """
    global _quiet_exit
    _quiet_exit = enabled
    if enabled and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


def ignore_stop_signals() -> None:
    """Ignore SIGINT/SIGTERM from now on, if :func:`quiet_exit` is on (the main thread only)."""
    if _quiet_exit and threading.current_thread() is threading.main_thread():
        for s in _STOP_SIGNALS:
            signal.signal(s, _ignore)
        fault_point("stopping")


@contextlib.contextmanager
def stopping() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM are ignored: clean-up that must not be cut in half."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _STOP_SIGNALS}
    for s in previous:
        signal.signal(s, _ignore)
    try:
        yield
    finally:
        if not _quiet_exit:
            for s, h in previous.items():
                signal.signal(s, h)


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
        if received:
            ignore_stop_signals()
