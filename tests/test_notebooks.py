"""Notebooks run top to bottom (small sizes)."""

import json

import numpy as np
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def run_notebook(name: str, monkeypatch, **env: str) -> dict:
    """Executes every code cell of ``notebooks/<name>`` in order, in the notebooks/
    directory, as a user would, and returns the namespace. A notebook may turn float64 on
    for the whole session (``jax.config.update``, as a notebook user does): the setting is
    put back afterwards, since a ``jax.enable_x64`` context cannot undo it."""
    import jax
    import matplotlib

    matplotlib.use("Agg")
    nb = json.loads((REPO / "notebooks" / name).read_text())
    monkeypatch.chdir(REPO / "notebooks")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    namespace: dict = {}
    before = jax.config.read("jax_enable_x64")
    try:
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                exec(compile("".join(cell["source"]), "notebook", "exec"), namespace)
    finally:
        jax.config.update("jax_enable_x64", before)
    return namespace


def test_burgers_notebook_runs(monkeypatch):
    """Executes every code cell in order, in the notebooks/ directory, as a user would."""
    namespace = run_notebook("burgers_pinn.ipynb", monkeypatch, PDEJAX_NOTEBOOK_STEPS="100")
    assert namespace["run"].summary["steps"] >= 100
    assert 0 < namespace["run"].summary["rel_l2"] < 1
    assert namespace["loaded"].config.pde.name == "burgers"


def test_spectral_notebook_runs(monkeypatch):
    namespace = run_notebook("spectral_solvers.ipynb", monkeypatch, PDEJAX_NOTEBOOK_SMALL="1")
    traj, frames = np.asarray(namespace["traj"]), np.asarray(namespace["frames"])
    assert traj.shape == (16, 1, 64) and np.all(np.isfinite(traj))
    assert 0.5 < np.max(np.abs(traj[-1])) < 5  # KS on its attractor, not decayed or blown up
    assert frames.shape == (5, 1, 32, 32) and np.all(np.isfinite(frames))


def test_fno_notebook_runs(monkeypatch):
    namespace = run_notebook("fno_burgers.ipynb", monkeypatch, PDEJAX_NOTEBOOK_SMALL="1")
    run = namespace["run"]
    assert run.summary["steps"] == 100 and 0 < run.summary["rel_l2"] < 1
    assert set(run.summary["superresolution_rel_l2"]) == {"64", "128", "256"}
    assert namespace["pred"].shape == (8, 1, 128) and np.all(np.isfinite(namespace["pred"]))


def test_allen_cahn_notebook_runs(monkeypatch):
    namespace = run_notebook("pinn_allen_cahn.ipynb", monkeypatch, PDEJAX_NOTEBOOK_STEPS="60")
    snapshots = namespace["snapshots"]
    assert [s["step"] for s in snapshots] == [10, 20, 30, 40, 50, 60]
    for s in snapshots:
        assert s["weights"].shape == (16,) and np.all((s["weights"] >= 0) & (s["weights"] <= 1))
        assert s["weights"][0] == 1.0  # the first chunk always counts
        points = s["points"]
        assert points.shape == (512, 2) and np.all(np.abs(points[:, 0]) <= 1) and np.all((points[:, 1] >= 0)
                                                                                       & (points[:, 1] <= 1))
        assert 0 < s["rel_l2"] < 2
    assert namespace["pred"].shape == namespace["ref"].shape == (128, 51)
    assert np.max(np.abs(namespace["ref"])) == pytest.approx(1.0, abs=0.05)  # the solution's plateaus at ±1


def test_hybrid_pde_notebook_runs(monkeypatch):
    namespace = run_notebook("hybrid_pde.ipynb", monkeypatch, PDEJAX_NOTEBOOK_STEPS="20", PDEJAX_NOTEBOOK_SMALL="1")
    run = namespace["run"]
    assert run.summary["steps"] == 20
    assert {"term_rel_l2", "rel_l2_known_terms_only", "rel_l2_train_window", "rel_l2_extrapolation"} <= set(run.summary)
    u, learned, true = (np.asarray(namespace[k]) for k in ("u_values", "learned", "true"))
    assert u.ndim == 1 and learned.shape == true.shape == u.shape
    assert np.all(np.isfinite(learned)) and np.all(np.isfinite(true))
    assert -1.1 < u.min() < -0.5 and 0.5 < u.max() < 1.1  # the data's range: between the wells at ±1
    np.testing.assert_allclose(true, u - u**3, atol=1e-5)  # the missing term of Allen–Cahn, rate 1
    pred, ref = np.asarray(namespace["pred"]), np.asarray(namespace["ref"])
    assert pred.shape == ref.shape == (41, 64)  # t = 0, 0.1, ..., 4 on 64 points
    assert np.all(np.isfinite(pred)) and np.allclose(pred[0], ref[0])  # the rollout starts from the reference


def test_long_rollouts_notebook_runs(monkeypatch):
    namespace = run_notebook("long_rollouts.ipynb", monkeypatch, PDEJAX_NOTEBOOK_SMALL="1", PDEJAX_NOTEBOOK_STEPS="10")
    assert set(namespace["runs"]) == {"plain", "refiner"}
    for name in ("plain", "refiner"):
        corr = namespace["corr"][name]
        assert corr.shape == (4, 10) and np.all(np.abs(corr) <= 1 + 1e-5)
    boosted, frames = np.asarray(namespace["boosted"]), np.asarray(namespace["frames"])
    assert boosted.shape == frames.shape and np.all(np.isfinite(boosted))
    assert boosted.mean() - frames.mean() == pytest.approx(0.4, abs=1e-3)  # the boost adds 0.4 to u
