"""One writer at a time: an exclusive lock file on a run directory or an output file.

The lock is a small JSON file, ``{"pid", "host", "started", "command"}``, created
atomically (``O_CREAT | O_EXCL``) and held with ``fcntl.flock`` while its owner runs.
It is removed on release: at the end of the ``with`` block (also on an exception),
or at exit as a fallback. A lock whose process no longer exists on this host is stale
(the owner was killed with SIGKILL, or the machine restarted): it is taken over, with a
note on stderr. A live owner, or an owner on another host (whose process cannot be
checked from here), makes :meth:`FileLock.acquire` raise :class:`ConfigError`, naming it.

Multi-process runs (``pdejax train --coordinator ...``, ``pdejax.parallel.initialize``):
process 0 holds the lock for all processes; the others pass ``process_index != 0`` and
take no lock.

Example:
    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmp.name) / "run.lock"
    >>> with FileLock(path, key="--run-dir", command="pdejax train cfg.yaml"):
    ...     holder(path)["command"]
    'pdejax train cfg.yaml'
    >>> path.exists()  # released
    False
    >>> tmp.cleanup()
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .config.errors import ConfigError


def holder(path: str | Path) -> dict[str, Any] | None:
    """The lock file's record, or ``None`` when it is missing or not (yet) readable JSON."""
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as existing)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class FileLock:
    """An exclusive lock file; see the module docstring.

    Args:
        path: the lock file (``RUN_DIR/.pdejax.lock``, ``FILE.h5.lock``).
        key: the argument that named the locked thing, for error messages (``--run-dir``).
        command: the command line recorded in the lock, shown to a refused second writer.
        process_index: in a multi-host run, only process 0 takes the lock.
    """

    def __init__(self, path: str | Path, *, key: str, command: str | None = None, process_index: int = 0):
        self.path, self.key, self.process_index = Path(path), key, process_index
        self.command = command if command is not None else " ".join(sys.argv)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FileLock:
        """Take the lock, or raise :class:`ConfigError` naming its live (or remote) owner."""
        if self.process_index != 0 or self.held:
            return self
        for _ in range(50):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            except FileExistsError:
                if self._take_over():
                    return self
                continue  # the stale lock vanished (its remover won): try to create again
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a taker found our empty file first and owns it now
                os.close(fd)
                continue
            self._own(fd)
            return self
        raise ConfigError(self.key, str(self.path), "a lock file that can be created",
                          message=f"could not take the lock {self.path}: other processes keep taking it")

    def _take_over(self) -> bool:
        """Take over a stale lock in place; raise if its owner lives; False if it vanished."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live pdejax process holds it
            os.close(fd)
            self._refuse(self._read_settled())
        try:
            if os.stat(self.path).st_ino != os.fstat(fd).st_ino:  # released and recreated meanwhile
                os.close(fd)
                return False
        except FileNotFoundError:
            os.close(fd)
            return False
        info = self._read_settled()
        if info is not None and (info.get("host") != socket.gethostname() or process_exists(info["pid"])):
            os.close(fd)
            self._refuse(info)
        what = (f"pid {info['pid']} on {info['host']} (since {info.get('started')}) no longer exists"
                if info is not None else "it holds no owner record")
        print(f"pdejax: note: taking over the stale lock {self.path}: {what}", file=sys.stderr)
        self._own(fd)
        return True

    def _read_settled(self) -> dict[str, Any] | None:
        """The owner's record; an owner that just created the file gets a moment to fill it."""
        for _ in range(10):
            info = holder(self.path)
            if info is not None:
                return info
            time.sleep(0.02)
        return None

    def _refuse(self, info: dict[str, Any] | None) -> None:
        if info is None:
            raise ConfigError(self.key, str(self.path), "a path no other process writes",
                              message=f"{self.path} is locked by another process. If none is running, "
                                      f"delete {self.path}.")
        who = f"pid {info['pid']} on host {info.get('host')}, since {info.get('started')} ({info.get('command')})"
        if info.get("host") != socket.gethostname():
            advice = (f"pdejax cannot check a process on another host: if it is no longer running, "
                      f"delete {self.path}")
        else:
            advice = "wait for it to finish or stop it; two writers would interleave their output"
        target = self.path.parent if self.path.name == RUN_LOCK else self.path.with_suffix("")
        raise ConfigError(self.key, str(target), "a path no other process writes",
                          message=f"{self.key} {target} is in use by another pdejax process: {who}. {advice}.")

    def _own(self, fd: int) -> None:
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "command": self.command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        atexit.register(self.release)

    def release(self) -> None:
        """Remove the lock file (if it is still ours) and let go of it; idempotent."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        atexit.unregister(self.release)
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                os.unlink(self.path)
        os.close(fd)  # closing releases the flock

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


RUN_LOCK = ".pdejax.lock"
"""The lock file's name inside a run directory."""
