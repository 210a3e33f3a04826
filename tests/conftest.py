"""Shared test set-up: four simulated CPU devices (sharding tests), small configs."""

from __future__ import annotations

import os

# Must happen before JAX initialises its backends.
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def tiny_config(**sections) -> dict:
    """A Burgers PINN config small enough to train in seconds on one CPU device."""
    cfg = {
        "name": "tiny",
        "seed": 0,
        "pde": {"name": "burgers"},
        "model": {"name": "mlp", "width": 8, "depth": 2},
        "objective": {"n_collocation": 128},
        "optimizer": {"name": "adam", "learning_rate": 1e-3},
        "train": {"steps": 200, "steps_per_call": 50, "log_every": 50, "eval_every": 100,
                  "checkpoint_every": 100, "progress": False, "plots": False},
        "evaluation": {"grid": {"x": [-1.0, 1.0, 32], "t": [0.0, 0.99, 10]}},
        "parallel": {"data": 1},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


@pytest.fixture
def tiny():
    return tiny_config


@pytest.fixture
def x64():
    """Float64 for one test, through JAX's (thread-local) ``jax.enable_x64`` context;
    the process-wide setting is left alone."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop JAX's compiled executables after each test module: one process compiles thousands
    of programs over the suite, and XLA crashed compiling late in a full run (a test that
    passes alone)."""
    yield
    jax.clear_caches()
