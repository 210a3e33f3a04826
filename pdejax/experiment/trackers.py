"""A run's experiment trackers, as its config's ``train.loggers`` selects them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.loading import to_yaml
from ..config.schema import ExperimentConfig
from ..training import AbstractLogger, MLflowLogger, TensorBoardLogger
from ..training.tracking import flat_params


def tracking(cfg: ExperimentConfig, directory: Path, recorded: ExperimentConfig, method: Any
             ) -> tuple[Any, list[AbstractLogger]]:
    """``(evaluator, trackers)`` of a run in ``directory`` besides its ``metrics.jsonl``.

    ``tensorboard``: event files in ``directory/tensorboard/``, with ``recorded`` (the config
    as ``config.yaml`` holds it) as text; the evaluator returned notes its metrics' names so
    that their scalars are tagged ``eval/``. ``mlflow``: a run in ``train.mlflow``'s
    experiment (default: the config's name) named after the directory, with the flattened
    config as parameters; its id in ``directory/mlflow.json``, so a resume continues it.
    """
    evaluator, out = method.evaluator, []
    if "tensorboard" in cfg.train.loggers:
        evaluated: set[str] = set()
        if evaluator is not None:
            evaluator = _noting_keys(evaluator, evaluated)
        out.append(TensorBoardLogger(directory / "tensorboard", loss_terms=method.objective.loss_names,
                                     evaluation_keys=evaluated, config_text=to_yaml(recorded)))
    if "mlflow" in cfg.train.loggers:
        settings = cfg.train.mlflow
        out.append(MLflowLogger(settings.experiment or cfg.name, tracking_uri=settings.tracking_uri,
                                run_name=directory.name, params=flat_params(recorded.model_dump(mode="json")),
                                tags={"pdejax.run_dir": str(directory.absolute())},
                                id_file=directory / "mlflow.json"))
    return evaluator, out


def _noting_keys(evaluator: Any, keys: set[str]) -> Any:
    """``evaluator`` as ``fit`` calls it, adding its metrics' names to ``keys`` before their
    record is logged."""

    def evaluate(model: Any) -> dict[str, float]:
        metrics = evaluator(model)
        keys.update(metrics)
        return metrics

    return evaluate
