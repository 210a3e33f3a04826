"""Shared set-up of the data tests: a tiny heat config and its uninterrupted reference file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import yaml

# What configs/data/heat.yaml holds (a real, small dataset), and the overrides that
# make it tiny enough for tests.
HEAT_YAML = """\
name: heat
seed: 0
n_samples: 1024
chunk_size: 64
dtype: float32
generator:
  name: heat
  n_points: 128
  kappa: 0.01
  t_final: 1.0
  dt: 0.01
  save_every: 10
  n_modes: 4
  max_wavenumber: 8
"""
TINY = {"seed": 3, "n_samples": 7, "chunk_size": 2,
        "generator": {"n_points": 32, "t_final": 0.1, "dt": 0.01, "save_every": 5}}


def tiny_heat(**changes) -> dict:
    """The heat config shrunk to 7 samples of 3 frames on 32 points, in 4 chunks."""
    cfg = yaml.safe_load(HEAT_YAML)
    for layer in (TINY, changes):
        for key, value in layer.items():
            cfg[key] = {**cfg[key], **value} if isinstance(cfg.get(key), dict) else value
    return cfg


def read_all(path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file, by name."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The tiny heat dataset generated in one go: ``(path, config)``."""
    from pdejax.data import generate

    path = tmp_path_factory.mktemp("reference") / "heat.h5"
    report = generate(tiny_heat(), path, progress=False)
    assert report.computed == [0, 1, 2, 3]
    return path, tiny_heat()
