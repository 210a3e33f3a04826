"""Claiming a run directory: one writer at a time, and nothing left behind by a run that never started."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from .._runlock import RUN_LOCK, FileLock
from .._signals import fault_point, stopping
from ..config.errors import ConfigError
from ..training import Interrupted


def _entries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name != RUN_LOCK] if directory.is_dir() else []


def started(directory: Path) -> bool:
    """Whether a run in ``directory`` got anywhere: a checkpoint, or a logged step."""
    checkpoints = directory / "checkpoints"
    if checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir()):
        return True
    metrics = directory / "metrics.jsonl"
    return metrics.is_file() and metrics.stat().st_size > 0


@contextlib.contextmanager
def claim_run_directory(directory: str | Path, *, resume: bool, command: str | None = None,
                        process_index: int = 0) -> Iterator[Path]:
    """Hold ``directory``'s lock for the block; undo a new run that fails before its first step.

    A new run's directory must be new or empty (a stale lock file aside); it is created
    here. If the block raises (an error, ``KeyboardInterrupt``, ``Interrupted``) before the
    run wrote a checkpoint or a logged step, everything in the directory is removed, and
    the directory too when this call created it, so the same ``--run-dir`` works again.
    A resumed run is never cleaned up. In a multi-host run only process 0 locks (and cleans).

    Raises:
        ConfigError: the directory is not empty (new run), or another live process holds it.
    """
    directory = Path(directory)
    created = not directory.exists()
    key = "--resume" if resume else "--run-dir"
    if not resume:
        if directory.exists() and not directory.is_dir():
            raise ConfigError("--run-dir", str(directory), "a new or empty directory (this is a file)")
        directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / RUN_LOCK, key=key, command=command, process_index=process_index)
    try:
        lock.acquire()
        if not resume and _entries(directory):
            raise ConfigError("--run-dir", str(directory),
                              "a new or empty directory (use --resume to continue an existing run)")
    except BaseException:
        lock.release()
        if created:
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    try:
        yield directory
    except BaseException as err:
        if isinstance(err, Interrupted):  # for the "Continue with: pdejax train --resume DIR" hint
            err.directory = directory
        if not resume and process_index == 0 and not started(directory):
            with stopping():  # a second Ctrl-C must not leave half the clean-up done
                fault_point("train:cleanup")
                for entry in _entries(directory):
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                lock.release()
                if created:
                    with contextlib.suppress(OSError):
                        directory.rmdir()
            raise
        raise
    finally:
        lock.release()
