"""Experiment tracking (issue 16, item 1): TensorBoard event files and MLflow runs.

One short run through ``pdejax.train`` with plots, shared by the tests: TensorBoard's own
event reader finds every scalar tag at each logged step, the config as text and the plots
as images; with the ``mlflow`` extra installed, ``mlflow.search_runs`` finds its run. A run
that crashed after its last checkpoint and resumed (through ``fit``, on a tiny problem)
shows each step once in TensorBoard and continues its MLflow run. Bad ``train.loggers``
values exit 2 before anything is written.

MLflow writes to a plain-file store here (``MLFLOW_ALLOW_FILE_STORE`` for MLflow 3): the
default SQLite store spends seconds creating its tables.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys

import jax.numpy as jnp
import optax
import pytest
import yaml

import pdejax
from pdejax.cli import main
from pdejax.objectives import AbstractObjective
from pdejax.training import Checkpointer, FixedBatch, FunctionLogger, MLflowLogger, OptaxPhase, TensorBoardLogger, fit
from pdejax.training.tracking import default_tracking_uri
from tests.conftest import REPO, tiny_config

HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    """A file store for the module's MLflow runs (set as ``MLFLOW_TRACKING_URI`` for search_runs)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = (tmp_path_factory.mktemp("mlruns") / "mlruns").as_uri()
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, mlflow_uri):
    """The directory of a 100-step run with plots that logged to TensorBoard (and MLflow when installed)."""
    loggers = ["jsonl", "tensorboard", *(["mlflow"] if HAS_MLFLOW else [])]
    cfg = tiny_config(train={"steps": 100, "checkpoint_every": 100, "eval_every": 100, "plots": True,
                             "loggers": loggers, "mlflow": {"tracking_uri": mlflow_uri, "experiment": "tracked"}})
    run_dir = tmp_path_factory.mktemp("tracking") / "run"
    pdejax.train(cfg, run_dir=run_dir, progress=False)
    return run_dir


def _events(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0}).Reload()


def test_tensorboard_holds_every_logged_scalar_the_config_and_the_plots(tracked):
    events = _events(tracked / "tensorboard")
    tags = events.Tags()
    # Logged every 50 steps, evaluated at 100.
    for tag in ("loss/total", "loss/residual", "train/lr", "train/steps_per_s", "train/wall_s"):
        assert [e.step for e in events.Scalars(tag)] == [50, 100], tag
    for tag in ("eval/rel_l2", "eval/max_abs_error"):
        assert [e.step for e in events.Scalars(tag)] == [100], tag
    history = [json.loads(line) for line in (tracked / "metrics.jsonl").read_text().splitlines()]
    assert [e.value for e in events.Scalars("loss/total")] == pytest.approx([r["loss"] for r in history])
    assert events.Scalars("eval/rel_l2")[0].value == pytest.approx(history[-1]["rel_l2"])
    config = events.Tensors("config/text_summary")  # the resolved config, as a code block
    assert [e.step for e in config] == [0]
    text = config[0].tensor_proto.string_val[0].decode()
    assert yaml.safe_load("\n".join(line[4:] for line in text.splitlines())) == \
        yaml.safe_load((tracked / "config.yaml").read_text())
    assert set(tags["images"]) == {"plots/loss", "plots/solution_u"}
    image = events.Images("plots/solution_u")
    assert [e.step for e in image] == [100] and image[0].width > 100
    assert image[0].encoded_image_string[:4] == b"\x89PNG"
    assert {"summary/text_summary", "train/phase/text_summary"} <= set(tags["tensors"])


def test_mlflow_run_is_found_by_search_runs(tracked, mlflow_uri):
    mlflow = pytest.importorskip("mlflow")
    runs = mlflow.search_runs(experiment_names=["tracked"])  # reads MLFLOW_TRACKING_URI
    assert len(runs) == 1, runs
    row = runs.iloc[0]
    assert row["run_id"] == json.loads((tracked / "mlflow.json").read_text())["run_id"]
    assert row["status"] == "FINISHED" and row["tags.mlflow.runName"] == "run"
    assert row["params.model.width"] == "8" and row["params.train.steps"] == "100"
    assert row["metrics.rel_l2"] == pytest.approx(json.loads((tracked / "summary.json").read_text())["rel_l2"])
    client = mlflow.MlflowClient(mlflow_uri)
    assert [m.step for m in client.get_metric_history(row["run_id"], "loss")] == [50, 100]
    files = {a.path for a in client.list_artifacts(row["run_id"])}
    files |= {a.path for a in client.list_artifacts(row["run_id"], "plots")}
    assert {"config.yaml", "summary.json", "plots/loss.png", "plots/solution_u.png"} <= files


class Bowl(AbstractObjective):
    loss_names = ("fit",)

    def loss(self, model, batch, key):
        return {"fit": jnp.sum(batch["scale"] * (model - 1.0) ** 2)}, {}


def test_a_resume_after_a_crash_shows_each_step_once_and_continues_the_mlflow_run(tmp_path, mlflow_uri):
    """Checkpoints at 100 and 200, a crash at 250 (after it was logged), a resume from 200:
    TensorBoard purges what followed the checkpoint; MLflow (which cannot) skips what it has."""

    def crash_at_250(record):
        if record["step"] == 250:
            raise RuntimeError("crash")

    def session(*extra, resume=False):
        trackers = [TensorBoardLogger(tmp_path / "tb", loss_terms=["fit"])]
        if HAS_MLFLOW:
            trackers.append(MLflowLogger("resumed", tracking_uri=mlflow_uri, id_file=tmp_path / "mlflow.json"))
        ckpt = Checkpointer(tmp_path / "ck", keep=5)
        try:
            fit(jnp.zeros(3), Bowl(), FixedBatch({"scale": jnp.ones(3)}), [OptaxPhase(300, optax.sgd(0.01), 0.01)],
                steps_per_call=50, log_every=50, checkpointer=ckpt, checkpoint_every=100, resume=resume,
                loggers=[*trackers, *extra], progress=False)
        finally:
            ckpt.close()

    with pytest.raises(RuntimeError, match="crash"):
        session(FunctionLogger(crash_at_250))
    session(resume=True)
    events = _events(tmp_path / "tb")
    assert [e.step for e in events.Scalars("loss/total")] == [50, 100, 150, 200, 250, 300]
    assert [e.step for e in events.Scalars("loss/fit")] == [50, 100, 150, 200, 250, 300]
    if HAS_MLFLOW:
        import mlflow

        runs = mlflow.search_runs(experiment_names=["resumed"])
        assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED", runs
        client = mlflow.MlflowClient(mlflow_uri)
        assert [m.step for m in client.get_metric_history(runs.iloc[0]["run_id"], "loss")] == \
            [50, 100, 150, 200, 250, 300]


def test_default_mlflow_store_is_mlruns_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_tracking_uri() == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert default_tracking_uri() == "http://tracking:5000"


def _write(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(train={"steps": 50})))
    return path


@pytest.mark.parametrize("loggers, expected", [
    ("[tensorboard]", "train.loggers = ['tensorboard'] is invalid: expected a list that includes jsonl"),
    ("[jsonl, wandb]", "train.loggers.1 = 'wandb' is invalid: expected 'jsonl', 'tensorboard' or 'mlflow'"),
    ("[jsonl, jsonl]", "each logger once"),
])
def test_bad_loggers_exit_2_before_anything_is_written(tmp_path, capsys, loggers, expected):
    run_dir = tmp_path / "run"
    assert main(["train", str(_write(tmp_path)), f"train.loggers={loggers}", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not run_dir.exists()


def test_mlflow_without_the_extra_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # find_spec("mlflow") is None: as if not installed
    run_dir = tmp_path / "run"
    assert main(["train", str(_write(tmp_path)), "train.loggers=[jsonl, mlflow]", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "train.loggers = [jsonl, mlflow] needs" in err and "pip install 'pdejax[mlflow]'" in err, err
    assert not run_dir.exists() and not (tmp_path / "mlruns").exists()


def test_the_trackers_import_their_libraries_only_when_they_start():
    """``import pdejax`` imports neither tensorboardX nor mlflow (nor matplotlib through them)."""
    tree = ast.parse((REPO / "pdejax" / "training" / "tracking.py").read_text())
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert not top & {"tensorboardX", "tensorboard", "mlflow", "matplotlib"}, top
