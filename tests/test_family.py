"""Method families are plug-ins, user files reach every command, and precision stays local."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdejax
from pdejax.config import ConfigError
from pdejax.config.schema import ObjectiveSection
from pdejax.methods import Method, register_family
from pdejax.objectives import AbstractObjective
from pdejax.training import AbstractEvaluator, FixedBatch


class LineConfig(ObjectiveSection):
    """Fit ``y = slope * x`` on fixed points (a family defined in a test file)."""

    name: Literal["line_fit"] = "line_fit"
    slope: float = 2.0
    n_points: int = 32


class LineObjective(AbstractObjective):
    loss_names = ("data",)

    def loss(self, model, batch, key):
        pred = jax.vmap(model)(batch["x"])
        return {"data": jnp.mean((pred - batch["y"]) ** 2)}, {}


class SlopeError(AbstractEvaluator):
    def __init__(self, slope):
        self.slope = slope

    def __call__(self, model):
        x = jnp.linspace(-1, 1, 11)[:, None]
        return {"max_error": float(jnp.max(jnp.abs(jax.vmap(model)(x) - self.slope * x)))}


@register_family("line_fit", LineConfig)
def build_line(cfg, ctx):
    x = jnp.linspace(-1.0, 1.0, cfg.objective.n_points, dtype=ctx.dtype)[:, None]
    model = ctx.build_model(cfg, 1, 1)
    return Method(model, LineObjective(), FixedBatch({"x": x, "y": cfg.objective.slope * x}),
                  SlopeError(cfg.objective.slope))


def line_config(**objective):
    return {"name": "line", "model": {"name": "mlp", "width": 16, "depth": 2},
            "objective": {"name": "line_fit", **objective}, "optimizer": {"learning_rate": 1e-2},
            "train": {"steps": 300, "steps_per_call": 100, "log_every": 100, "eval_every": 100,
                      "checkpoint_every": 100, "progress": False, "plots": False}, "parallel": {"data": 1}}


def test_a_family_registered_in_a_test_file_trains_through_pdejax_train(tmp_path):
    run = pdejax.train(line_config(slope=3.0), run_dir=tmp_path / "run")
    assert run.summary["max_error"] < 0.1, run.summary
    assert run.summary["steps"] == 300 and run.history[0]["data"] > run.history[-1]["data"]
    loaded = pdejax.load_run(tmp_path / "run")
    assert loaded.config.objective.slope == 3.0
    np.testing.assert_allclose(loaded.model(jnp.array([0.5])), run.model(jnp.array([0.5])))


def test_each_family_validates_only_its_own_keys():
    with pytest.raises(ConfigError) as err:
        pdejax.build(line_config(n_collocation=64))  # a PINN key
    assert err.value.key == "objective.n_collocation" and "slope" in str(err.value)
    with pytest.raises(ConfigError) as err:
        pdejax.build(line_config(), ["objective.weights.residual=2"])
    assert err.value.key == "objective.weights.residual" and "data" in str(err.value)


def test_registering_a_schema_without_a_literal_name_is_refused():
    class Loose(ObjectiveSection):
        name: str = "loose"

    with pytest.raises(TypeError, match="Literal"):
        register_family("loose", Loose)(build_line)


USER_PDE = '''
import jax.numpy as jnp
from pdejax.pde import PDE, PDES, Box, Periodic


@PDES.register("user_advection_{tag}")
def user_advection(c: float = 1.0) -> PDE:
    """Advection u_t + c u_x = 0 on a periodic interval (a user file)."""
    return PDE(name="user_advection_{tag}", fields=("u",), domain=Box(x=(0.0, 1.0), t=(0.0, 0.5)),
               params={{"c": c}}, linear={{"u": {{"u_x": "-c"}}}},
               initial=lambda x, p: {{"u": jnp.sin(2 * jnp.pi * x[0])}}, boundary=Periodic(),
               exact=lambda pts, p: jnp.sin(2 * jnp.pi * (pts[:, :1] - p["c"] * pts[:, 1:])))
'''


@pytest.mark.slow
def test_a_user_pde_file_is_listed_checked_trained_from_yaml_and_loaded_back(tmp_path):
    """Every command, from another working directory, in fresh processes."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "my_pde.py").write_text(USER_PDE.format(tag="e2e"))
    config = {"imports": ["my_pde.py"], "pde": {"name": "user_advection_e2e", "c": 0.5},
              "model": {"name": "mlp", "width": 16, "depth": 2}, "objective": {"n_collocation": 256},
              "train": {"steps": 200, "steps_per_call": 100, "log_every": 100, "eval_every": 100,
                        "checkpoint_every": 100, "progress": False, "plots": False},
              "evaluation": {"grid": {"x": [0, 1, 16], "t": [0, 0.5, 5]}}, "parallel": {"data": 1}}
    (project / "exp.yaml").write_text(json.dumps(config))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "pdejax.cli", *args], capture_output=True, text=True,
                              cwd=elsewhere, timeout=600)

    listed = cli("list", "--import", str(project / "my_pde.py"))
    assert listed.returncode == 0 and "user_advection_e2e" in listed.stdout, listed.stderr
    checked = cli("check", "user_advection_e2e", "--import", str(project / "my_pde.py"))
    assert checked.returncode == 0, checked.stderr
    trained = cli("train", str(project / "exp.yaml"), "--run-dir", "run")
    assert trained.returncode == 0, trained.stderr[-2000:]
    stored = (elsewhere / "run" / "config.yaml").read_text()
    assert str(project / "my_pde.py") in stored  # absolute: the run's config works from anywhere
    loaded = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import jax.numpy as jnp, pdejax
        run = pdejax.load_run("run")
        print(run.config.pde.name, float(run.model(jnp.array([0.25, 0.1]))[0]))
        """)], capture_output=True, text=True, cwd=elsewhere, timeout=600)
    assert loaded.returncode == 0 and loaded.stdout.startswith("user_advection_e2e"), loaded.stderr[-2000:]


def test_train_and_load_run_leave_the_x64_setting_alone(tmp_path):
    from pdejax.pde import burgers
    from pdejax.pde.exact import burgers_sine
    from pdejax.pde.mol import initial_fields, solve_mol
    from pdejax.spectral.chebyshev import ChebyshevGrid
    from tests.conftest import tiny_config

    before = jax.config.jax_enable_x64
    run64 = pdejax.train(tiny_config(dtype="float64", train={"steps": 50, "eval_every": 50,
                                                            "checkpoint_every": 50}), run_dir=tmp_path / "r64")
    assert jax.config.jax_enable_x64 == before
    assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(eqx.filter(run64.model, eqx.is_array)))
    run = pdejax.train(tiny_config(train={"steps": 50, "eval_every": 50, "checkpoint_every": 50}),
                       run_dir=tmp_path / "r32")
    loaded = pdejax.load_run(run.directory)
    assert jax.config.jax_enable_x64 == before
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(eqx.filter(loaded.model, eqx.is_array)))
    with jax.enable_x64(True):  # a float64 solve after loading a float32 run still runs in float64
        pde, grid = burgers(nu=0.1), ChebyshevGrid(("x",), (-1.0,), (1.0,), (48,))
        us = solve_mol(pde, grid, initial_fields(pde, grid, jnp.float64), np.array([0.0, 0.1]),
                       rtol=1e-10, atol=1e-10)
        assert us.dtype == jnp.float64
        exact = burgers_sine(np.asarray(grid.coordinates(jnp.float64)[0]), 0.1, 0.1)
        assert np.max(np.abs(np.asarray(us[-1, 0]) - exact)) < 1e-7  # float32 would stop near 1e-6
