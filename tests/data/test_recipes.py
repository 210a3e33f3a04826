"""The published data recipes produce what their papers describe (small sizes)."""

import json

import equinox as eqx
import jax
import numpy as np
import pytest

from pdejax.data import GENERATORS, generate, load_dataset
from tests.conftest import REPO


@pytest.mark.parametrize("config", sorted((REPO / "configs/data").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_data_config_validates_and_builds(config):
    from pdejax.data import build_generator, load_data_config

    cfg = load_data_config(config)
    with jax.enable_x64(cfg.generator.args.get("precision") == "float64"):  # as the CLI does
        generator = build_generator(cfg)
    assert "tensor" in generator.arrays


def test_burgers_fno_sample_conserves_mass_and_decays():
    """Periodic viscous Burgers keeps the (zero) mean and dissipates energy."""
    gen = GENERATORS.build("burgers_fno", {"n_points": 512, "dt": 0.01, "frame_dt": 0.5}, where="generator")
    traj = np.asarray(eqx.filter_jit(lambda k: gen.sample(k))(jax.random.key(0))["tensor"], np.float64)
    assert traj.shape == (3, 512)
    assert np.all(np.abs(traj.mean(axis=1)) < 1e-5)
    energy = np.sum(traj**2, axis=1)
    assert energy[0] > energy[1] > energy[2] > 0


def test_darcy_pairs_file(tmp_path):
    cfg = {"name": "darcy", "seed": 1, "n_samples": 2, "chunk_size": 2, "dtype": "float32",
           "generator": {"name": "darcy_fno", "n_points": 41, "precision": "float32"},
           "store_stride": {"x": 2, "y": 2}}
    generate(cfg, tmp_path / "d.h5", progress=False)
    ds = load_dataset(tmp_path / "d.h5")
    u, a = np.asarray(ds.arrays["tensor"]), np.asarray(ds.arrays["nu"])
    assert u.shape == (2, 1, 21, 21) and a.shape == (2, 21, 21)
    assert set(np.unique(a)) == {3.0, 12.0}
    assert np.all(u[:, 0, 0, :] == 0) and np.all(u[:, 0, 1:-1, 1:-1] > 0)  # zero boundary, positive inside
    assert json.loads(ds.attrs["config"])["generator"]["name"] == "darcy_fno"
