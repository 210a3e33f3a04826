"""Where a run's records go: ``train.loggers`` and the ``train.mlflow`` settings.

``metrics.jsonl`` is part of every run directory (a resume trims it, the plots and the
summary read it), so ``jsonl`` is always listed; ``tensorboard`` is on by default;
``mlflow`` needs the ``mlflow`` extra, checked by :func:`check_installed` when a run
starts (a stored run that used it still loads where MLflow is not installed).
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from .errors import ConfigError

LoggerName = Literal["jsonl", "tensorboard", "mlflow"]
DEFAULT_LOGGERS: tuple[LoggerName, ...] = ("jsonl", "tensorboard")
# The module each logger needs, and how to install it.
_NEEDS = {"tensorboard": ("tensorboardX", "pip install tensorboardX"),
          "mlflow": ("mlflow", "pip install 'pdejax[mlflow]'")}


def check_loggers(loggers: list[str]) -> list[str]:
    """``train.loggers`` lists ``jsonl`` and names each logger once.

    >>> check_loggers(["jsonl", "mlflow"])
    ['jsonl', 'mlflow']
    >>> check_loggers(["tensorboard"])
    Traceback (most recent call last):
    ...
    pdejax.config.errors.ConfigError: = ['tensorboard'] is invalid: expected a list that includes jsonl \
(metrics.jsonl is part of every run directory: resume, plots and summary read it), e.g. [jsonl, tensorboard].
    """
    if "jsonl" not in loggers:
        raise ConfigError("", loggers, "a list that includes jsonl (metrics.jsonl is part of every run "
                          f"directory: resume, plots and summary read it), e.g. {_flow(['jsonl', *loggers])}")
    twice = sorted({name for name in loggers if loggers.count(name) > 1})
    if twice:
        raise ConfigError("", loggers, f"each logger once ({twice[0]} is listed twice)")
    return loggers


def _flow(names: list[str]) -> str:
    return "[" + ", ".join(dict.fromkeys(names)) + "]"


Loggers = Annotated[list[LoggerName], AfterValidator(check_loggers)]
"""The type of ``train.loggers``: a list of logger names, checked by :func:`check_loggers`."""


class MLflowConfig(BaseModel):
    """``train.mlflow``: where ``train.loggers: [..., mlflow]`` logs. ``tracking_uri``: a
    tracking server or store URI (default: ``$MLFLOW_TRACKING_URI``, else ``mlruns/`` in the
    working directory, as an SQLite store ``mlruns/mlflow.db``); ``experiment``: the MLflow
    experiment (default: the config's ``name``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    tracking_uri: str | None = None
    experiment: str | None = None


def check_installed(loggers: list[str], key: str = "train.loggers") -> None:
    """ConfigError naming ``key`` when a listed logger's library is not installed.

    Checked when a run starts (before anything is compiled or written), not when a config
    is read: a stored run that logged to MLflow still loads where MLflow is missing.
    """
    for name in loggers:
        module, install = _NEEDS.get(name, (None, None))
        if module is not None and importlib.util.find_spec(module) is None:
            raise ConfigError(key, loggers, f"loggers whose library is installed: {name} needs {module}",
                              message=f"{key} = {_flow(loggers)} needs the {name} logger's library "
                              f"({module}), which is not installed: {install} (or leave {name} out of "
                              f"{key})")
