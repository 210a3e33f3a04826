"""Looking at runs: ``pdejax plot`` and ``pdejax compare`` on two tiny runs, and quiet progress bars.

Two runs of the tiny Burgers PINN that differ in ``optimizer.learning_rate`` are trained
once for the module, through ``pdejax train`` with ``train.progress`` on and stderr not a
terminal: no bar may appear.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest
import yaml

from pdejax import cli
from pdejax._progress import batch_starts
from pdejax.experiment import compare_runs
from tests.conftest import tiny_config

STEPS = {"steps": 40, "steps_per_call": 20, "log_every": 20, "eval_every": 20, "checkpoint_every": 40,
         "progress": True, "plots": False}
BAR = ("step/s", "it/s", "%|")  # what a tqdm bar writes


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``(run A, run B, what training wrote to stderr)``: learning rates 1e-3 and 3e-3."""
    root = tmp_path_factory.mktemp("runs")
    config = root / "tiny.yaml"
    grid = {"x": [-1.0, 1.0, 16], "t": [0.0, 0.99, 8]}
    config.write_text(yaml.safe_dump(tiny_config(train=STEPS, evaluation={"grid": grid})))
    a, b = root / "lr-1e-3", root / "lr-3e-3"
    stderr = ""
    for run, lr in ((a, "1e-3"), (b, "3e-3")):
        status, _, err = main("train", config, "--run-dir", run, f"optimizer.learning_rate={lr}")
        assert status == 0, err
        stderr += err
    return a, b, stderr


def main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def test_training_off_a_terminal_shows_no_bar(runs):
    stderr = runs[2]  # a StringIO: not a terminal (as a pipe or a log file)
    assert not any(mark in stderr for mark in BAR), stderr


def test_plot_draws_the_plots_again(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs[0], run, ignore=shutil.ignore_patterns("plots"))
    status, out, err = main("plot", run, "--metric", "rel_l2", "--no-progress")
    assert status == 0, err
    assert {p.name for p in (run / "plots").iterdir()} == {"loss.png", "metric_rel_l2.png", "solution_u.png"}
    assert str(run / "plots" / "solution_u.png") in out.split()


def test_plot_unfinished_run_draws_its_curves_and_says_so(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs[0], run, ignore=shutil.ignore_patterns("plots", "checkpoints", "model", "summary.json"))
    status, out, err = main("plot", run, "--out", tmp_path / "pictures")
    assert status == 0, err
    assert "not finished" in err
    assert out.split() == [str(tmp_path / "pictures" / "loss.png")]


def test_compare_shows_the_differing_key_and_both_runs_metrics(runs, tmp_path):
    a, b, _ = runs
    figure = tmp_path / "compare.png"
    status, out, err = main("compare", a, b, "--out", figure)
    assert status == 0, err
    assert figure.stat().st_size > 0
    header, rule, *rows = out.splitlines()
    assert header.split() == ["run", "optimizer.learning_rate", "rel_l2", "max_abs_error", "steps", "wall_s"]
    assert len(rows) == 2
    for row, run, lr in zip(rows, (a, b), ("0.001", "0.003")):
        summary = json.loads((run / "summary.json").read_text())
        cells = row.split()
        assert cells[:3] == [str(run), lr, f"{summary['rel_l2']:.3e}"]
        assert cells[4] == "40"
    comparison = compare_runs([a, b])
    assert comparison.differing == ["optimizer.learning_rate"]
    assert comparison.labels == ["optimizer.learning_rate=0.001", "optimizer.learning_rate=0.003"]
    csv_rows = comparison.table("csv").splitlines()
    assert csv_rows[0] == "run,optimizer.learning_rate,rel_l2,max_abs_error,steps,wall_s"
    assert float(csv_rows[2].split(",")[2]) == json.loads((b / "summary.json").read_text())["rel_l2"]
    assert comparison.table("markdown").splitlines()[1] == "|---|---|---:|---:|---:|---:|"


@pytest.mark.parametrize("argv, named", [
    (["plot", "{missing}"], "RUN_DIR = '{missing}'"),
    (["plot", "{a}", "--metric", "rel_l3"], "--metric = 'rel_l3' is invalid: expected a key that"),
    (["compare", "{a}", "{missing}"], "RUN_DIR = '{missing}'"),
    (["compare", "{a}", "--metric", "rel_l3", "--no-plot"], "--metric = 'rel_l3'"),
])
def test_bad_input_exits_2_naming_the_argument(runs, tmp_path, argv, named):
    where = {"a": runs[0], "missing": tmp_path / "missing"}
    status, _, err = main(*(arg.format(**where) for arg in argv))
    assert status == 2
    assert named.format(**where) in err and len(err.strip().splitlines()) == 1
    if "--metric" in argv:
        assert "loss, residual, lr, max_abs_error, rel_l2" in err  # the keys the run has


def test_every_long_command_takes_no_progress():
    parser = cli._parser()
    commands = parser._subparsers._group_actions[0].choices
    data = commands["data"]._subparsers._group_actions[0].choices
    long = {"train": commands["train"], "data generate": data["generate"], "plot": commands["plot"]}
    if "sweep" in commands:
        long["sweep"] = commands["sweep"]
    missing = [name for name, p in long.items() if "--no-progress" not in p._option_string_actions]
    assert not missing


def test_batch_starts_counts_every_batch_quietly_off_a_terminal():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert list(batch_starts(100, 7)) == list(range(0, 100, 7))
        assert list(batch_starts(100, 7, progress=False)) == list(range(0, 100, 7))
    assert err.getvalue() == ""
