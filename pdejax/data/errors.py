"""The error a bad data file raises: it names the file, the dataset and what is valid."""

from __future__ import annotations

from pathlib import Path

from ..config.errors import ConfigError


class DataError(ConfigError):
    """A data file that cannot be read or written as asked.

    A :class:`~pdejax.config.ConfigError` (so the command line reports it in one
    paragraph with exit status 2) and hence a ``ValueError``.

    Args:
        path: the file at fault.
        problem: what is wrong, in words.
        dataset: the HDF5 dataset at fault, if one is.
        valid: what would be accepted, in words.
    """

    def __init__(self, path: str | Path, problem: str, *, dataset: str | None = None, valid: str | None = None):
        self.path, self.dataset, self.problem = str(path), dataset, problem
        where = f"{path}" + (f", dataset {dataset!r}" if dataset else "")
        message = f"{where}: {problem}" + (f"; expected {valid}" if valid else "")
        super().__init__(str(path), dataset, valid or problem, message=message.rstrip(".") + ".")
