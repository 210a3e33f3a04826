"""Where logged records go: ``metrics.jsonl``, a function, or your own logger.

A record is a flat dict of JSON-able scalars with at least ``step``; :func:`fit` hands
every logged record to each logger, then closes them when training ends.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
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
    """Receives logged records. Subclass this (TensorBoard, MLflow, ...)."""

    @abc.abstractmethod
    def log(self, record: Record) -> None:
        """One logged step's record; raise :class:`StopTraining` to end training here."""

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
