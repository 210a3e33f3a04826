"""Experiment trackers as loggers: TensorBoard event files and MLflow runs.

Each imports its library only when it starts writing, so ``import pdejax`` imports neither
``tensorboardX`` nor ``mlflow``; MLflow is an optional extra (``pip install 'pdejax[mlflow]'``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

from .loggers import AbstractLogger, Record
from .loop import Interrupted


def numbers(record: Record) -> dict[str, float]:
    """The record's numeric values except ``step`` (strings such as ``phase`` left out).

    >>> numbers({"step": 100, "phase": "OptaxPhase", "loss": 0.5, "lr": 1e-3})
    {'loss': 0.5, 'lr': 0.001}
    """
    return {k: float(v) for k, v in record.items()
            if k != "step" and isinstance(v, Real) and not isinstance(v, bool)}


def _indented(text: str) -> str:
    """Text shown verbatim by TensorBoard's markdown renderer: a code block (four spaces)."""
    return "\n".join("    " + line for line in text.splitlines())


class TensorBoardLogger(AbstractLogger):
    """TensorBoard event files in ``logdir``, written with tensorboardX.

    ``tensorboard --logdir runs/`` then shows every run under ``runs/`` side by side.
    Every numeric value of a record is a scalar at the record's step, tagged

    - ``loss/total`` (the record's ``loss``) and ``loss/<term>`` for each of ``loss_terms``;
    - ``eval/<metric>`` for the keys in ``evaluation_keys`` (``eval/rel_l2``);
    - as it is when the key holds a ``/`` (a combiner's ``weight/<term>``, ``grad_norm/<term>``);
    - ``train/<key>`` otherwise (``train/lr``, ``train/steps_per_s``, ``train/wall_s``, an
      objective's auxiliary values such as ``train/nfe``).

    The phase's name is text ``train/phase`` wherever it changes; ``config_text`` (the
    resolved YAML) is text ``config`` at the step training starts from; :meth:`log_files`
    adds each PNG as image ``plots/<name>`` and ``summary.json`` as text ``summary``.
    Events are flushed at every record, so a live TensorBoard follows the run.

    A resumed run (``start(resumed_from)``) opens a new event file that begins with
    TensorBoard's purge marker at ``resumed_from + 1``: what an interrupted run logged after
    its checkpoint is dropped, and every curve shows each step once.

    Args:
        logdir: the directory of the event files (created).
        loss_terms: the objective's loss term names (its ``loss_names``).
        evaluation_keys: the evaluation metrics' keys; it may grow while training runs
            (``pdejax.train`` adds each evaluation's keys before that record is logged).
        config_text: text logged as ``config`` when training starts.

    >>> import tempfile
    >>> logger = TensorBoardLogger(tempfile.mkdtemp(), loss_terms=["residual"], evaluation_keys={"rel_l2"})
    >>> [logger.tag(k) for k in ("loss", "residual", "rel_l2", "lr", "weight/residual")]
    ['loss/total', 'loss/residual', 'eval/rel_l2', 'train/lr', 'weight/residual']
    """

    def __init__(self, logdir: str | Path, *, loss_terms: Sequence[str] = (), evaluation_keys: Collection[str] = (),
                 config_text: str | None = None):
        self.logdir = Path(logdir)
        self.loss_terms = tuple(loss_terms)
        self.evaluation_keys = evaluation_keys
        self.config_text = config_text
        self._writer: Any = None
        self._phase: str | None = None

    def tag(self, key: str) -> str:
        """The scalar tag of record key ``key`` (see the class's description)."""
        if key == "loss":
            return "loss/total"
        if key in self.loss_terms:
            return f"loss/{key}"
        if key in self.evaluation_keys:
            return f"eval/{key}"
        return key if "/" in key else f"train/{key}"

    def _open(self, purge_step: int | None = None) -> Any:
        if self._writer is None:
            from tensorboardX import SummaryWriter

            # The suffix keeps two sessions started within one second in order (and apart).
            self._writer = SummaryWriter(str(self.logdir), purge_step=purge_step, flush_secs=10,
                                         filename_suffix=f".from{purge_step or 0:010d}")
        return self._writer

    def start(self, resumed_from: int | None) -> None:
        """Open a new event file; a resumed run's purges what followed its checkpoint."""
        writer = self._open(0 if resumed_from is None else resumed_from + 1)
        if self.config_text is not None:
            writer.add_text("config", _indented(self.config_text), resumed_from or 0)
        writer.flush()

    def log(self, record: Record) -> None:
        """Scalars (and the phase's name where it changes) at the record's step; flushed."""
        writer = self._open()
        step = int(record["step"])
        phase = record.get("phase")
        if isinstance(phase, str) and phase != self._phase:
            writer.add_text("train/phase", phase, step)
            self._phase = phase
        for key, value in numbers(record).items():
            writer.add_scalar(self.tag(key), value, step)
        writer.flush()

    def log_files(self, paths: Sequence[Path], step: int) -> None:
        """PNGs as images ``plots/<name>``, ``summary.json`` as text ``summary``; other files are skipped."""
        writer = self._open()
        for path in map(Path, paths):
            if path.suffix.lower() == ".png":
                from matplotlib.image import imread

                image = imread(path)
                writer.add_image(f"plots/{path.stem}", image, step, dataformats="HWC" if image.ndim == 3 else "HW")
            elif path.name == "summary.json":
                writer.add_text("summary", _indented(path.read_text()), step)
        writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


MLFLOW_EXTRA = "pip install 'pdejax[mlflow]'"
"""What installs MLflow for ``train.loggers: [..., mlflow]``."""


def default_tracking_uri(root: str | Path = "mlruns") -> str:
    """MLflow's store when none is given: ``$MLFLOW_TRACKING_URI``, else ``root`` (in the
    working directory) as an SQLite database ``root/mlflow.db``; MLflow 3 no longer opens
    plain-file ``mlruns/`` stores by default, and an SQLite file works with MLflow 2 and 3.
    ``mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`` shows it."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return "sqlite:///" + str(Path(root).absolute() / "mlflow.db")


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow parameters: dotted keys, values as text (at most 500 characters).

    >>> flat_params({"model": {"name": "mlp", "width": 8}, "train": {"loggers": ["jsonl"]}})
    {'model.name': 'mlp', 'model.width': '8', 'train.loggers': '["jsonl"]'}
    """
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flat_params(value, name))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            out[name] = text if len(text) <= 500 else text[:497] + "..."
    return out


class MLflowLogger(AbstractLogger):
    """An MLflow run: the records as metrics, ``params`` as parameters, the run's files as artifacts.

    Needs the ``mlflow`` extra (``pip install 'pdejax[mlflow]'``), imported when training starts.

    Args:
        experiment: the MLflow experiment (created when missing).
        tracking_uri: a tracking server's URL or any MLflow store URI; default
            :func:`default_tracking_uri` (``$MLFLOW_TRACKING_URI``, else ``mlruns/mlflow.db``
            in the working directory). An SQLite store keeps new experiments' artifacts
            beside its database (``mlruns/artifacts/``).
        run_name: the MLflow run's name.
        params: logged when the MLflow run is created (:func:`flat_params` of a config).
        tags: tags of a new MLflow run.
        id_file: JSON holding the MLflow run's id and tracking URI. A resumed training run
            (``start(step)``) whose file names a run that still exists continues that run,
            on the stored URI when ``tracking_uri`` is not given; otherwise a new run is
            created and its id written there.

    Metrics keep the record's keys. MLflow cannot remove values, so a continued run skips
    the records up to the last step it holds (a resume recomputes those steps bitwise), and
    its parameters stay those of its first session (``config.yaml`` among the artifacts is
    the final config). :meth:`log_files` stores PNGs under ``plots/`` and other files at the
    top. At :meth:`close` the run is FINISHED, or KILLED (a signal) or FAILED (an error)
    when it closes while an exception propagates.
    """

    def __init__(self, experiment: str, *, tracking_uri: str | None = None, run_name: str | None = None,
                 params: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
                 id_file: str | Path | None = None):
        self.experiment, self.tracking_uri, self.run_name = experiment, tracking_uri, run_name
        self.params, self.tags = dict(params or {}), dict(tags or {})
        self.id_file = Path(id_file) if id_file is not None else None
        self.run_id: str | None = None
        self._client: Any = None
        self._logged_through: int | None = None

    def start(self, resumed_from: int | None) -> None:
        """Continue the stored MLflow run (a resume) or create one, with its parameters."""
        from mlflow import MlflowClient

        stored = json.loads(self.id_file.read_text()) if self.id_file is not None and self.id_file.is_file() else {}
        uri = self.tracking_uri or stored.get("tracking_uri") or default_tracking_uri()
        database = _sqlite_file(uri)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        self._client = client = MlflowClient(tracking_uri=uri)
        run_id = stored.get("run_id") if stored.get("tracking_uri") == uri and resumed_from is not None else None
        if run_id is not None and self._live(run_id):
            client.update_run(run_id, status="RUNNING")
            self._logged_through = self._last_step(run_id)
        else:
            experiment_id = self._experiment_id(uri)
            run_id = client.create_run(experiment_id, run_name=self.run_name, tags=self.tags).info.run_id
            items = sorted(self.params.items())
            for i in range(0, len(items), 100):  # MLflow takes at most 100 parameters a call
                client.log_batch(run_id, params=[_param(k, v) for k, v in items[i:i + 100]])
            if self.id_file is not None:
                self.id_file.write_text(json.dumps({"tracking_uri": uri, "experiment_id": experiment_id,
                                                    "run_id": run_id}, indent=2) + "\n")
        self.run_id = run_id

    def _live(self, run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_run(run_id).info.lifecycle_stage == "active"
        except MlflowException:
            return False

    def _last_step(self, run_id: str) -> int | None:
        keys = list(self._client.get_run(run_id).data.metrics)
        if not keys:
            return None
        key = "loss" if "loss" in keys else keys[0]
        return max((m.step for m in self._client.get_metric_history(run_id, key)), default=None)

    def _experiment_id(self, uri: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self._client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        database = _sqlite_file(uri)
        # An SQLite store keeps its artifacts beside its database (MLflow's default: the working directory).
        location = (database.absolute().parent / "artifacts").as_uri() if database is not None else None
        try:
            return self._client.create_experiment(self.experiment, artifact_location=location)
        except MlflowException:  # created meanwhile by another process (a sweep's worker)
            found = self._client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return found.experiment_id

    def log(self, record: Record) -> None:
        """The record's numbers as metrics at its step (skipped where a continued run has them)."""
        from mlflow.entities import Metric

        step = int(record["step"])
        if self._logged_through is not None and step <= self._logged_through:
            return
        stamp = int(time.time() * 1000)
        self._client.log_batch(self.run_id, metrics=[Metric(k, v, stamp, step) for k, v in numbers(record).items()])

    def log_files(self, paths: Sequence[Path], step: int) -> None:
        """Every file as an artifact: PNGs under ``plots/``, the others at the top."""
        for path in map(Path, paths):
            self._client.log_artifact(self.run_id, str(path), "plots" if path.suffix.lower() == ".png" else None)

    def close(self) -> None:
        """Mark the run FINISHED, or KILLED / FAILED while an exception propagates."""
        if self._client is None or self.run_id is None:
            return
        error = sys.exc_info()[1]
        status = ("FINISHED" if error is None else
                  "KILLED" if isinstance(error, (KeyboardInterrupt, Interrupted)) else "FAILED")
        self._client.set_terminated(self.run_id, status)
        self._client = None


def _sqlite_file(uri: str) -> Path | None:
    """The database file of an ``sqlite:///`` store URI."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def _param(key: str, value: str) -> Any:
    from mlflow.entities import Param

    return Param(key, value)
