"""Where logged records go: ``metrics.jsonl``, a function, TensorBoard, MLflow, or your own logger.

A record is a flat dict of JSON-able scalars with at least ``step``. A logger's life:
``start(resumed_from)`` once the training state is ready, ``log(record)`` for every logged
step, ``log_files(paths, step)`` for the files a run wrote at its end (``pdejax.train``:
plots, ``config.yaml``, ``summary.json``), ``close()`` last (also after an error).
:func:`~pdejax.training.fit` calls ``start`` and ``log``, and ``close`` unless told that
its caller closes them (``close_loggers=False``, as ``pdejax.train`` does).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Record = dict[str, Any]


class StopTraining(Exception):  # noqa: N818  (a request, not an error)
    """Raised by a logger's :meth:`~AbstractLogger.log` to end training after this record.

    :func:`~pdejax.training.fit` saves a checkpoint at the record's step, evaluates the
    model there (unless the record already holds an evaluation), notes ``reason`` in
    ``FitResult.notes`` and returns normally: early stopping, or a sweep pruning a trial.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class AbstractLogger(abc.ABC):
    """Receives logged records. Subclass this (as :class:`TensorBoardLogger` and
    :class:`MLflowLogger` do); only :meth:`log` is required."""

    def start(self, resumed_from: int | None) -> None:  # noqa: B027  (optional hook)
        """Training starts at step 0 (``None``) or continues after checkpoint step
        ``resumed_from``, whose later records an interrupted run may have logged already;
        called once, before the first record."""

    @abc.abstractmethod
    def log(self, record: Record) -> None:
        """One logged step's record; raise :class:`StopTraining` to end training here."""

    def log_files(self, paths: Sequence[Path], step: int) -> None:  # noqa: B027  (optional hook)
        """Files the run wrote once training ended (plots, ``config.yaml``, ``summary.json``),
        at its last ``step``; called before :meth:`close` by ``pdejax.train``."""

    def close(self) -> None:  # noqa: B027  (optional: most loggers have nothing to release)
        """Flush and release; called once when training ends (also on errors)."""


class JsonlLogger(AbstractLogger):
    """One JSON object per line, appended to ``path`` and flushed at every record.

    >>> import json, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> logger = JsonlLogger(path)
    >>> logger.log({"step": 100, "loss": 0.5})
    >>> json.loads(path.read_text())
    {'step': 100, 'loss': 0.5}
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def log(self, record: Record) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


class FunctionLogger(AbstractLogger):
    """Calls ``fn(record)`` for every record (e.g. ``print`` or a list's ``append``)."""

    def __init__(self, fn: Callable[[Record], None]):
        self.fn = fn

    def log(self, record: Record) -> None:
        self.fn(record)
