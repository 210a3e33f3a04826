"""The Dirichlet Poisson data of the Neural Spectral Methods (``poisson_dirichlet``): float64.

The collocation solver against manufactured solutions and the dense Kronecker system; the file
on the Chebyshev–Lobatto nodes with its boundary values and collocation residual.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.data import generate, load_dataset
from pdejax.data.nsm_problems import ChebyshevPoisson, lobatto_nodes
from pdejax.spectral import ChebyshevGrid

pytestmark = pytest.mark.usefixtures("x64")


def test_the_collocation_solve_matches_manufactured_solutions_and_the_dense_kronecker_system():
    solver = ChebyshevPoisson((0.0, 0.0), (1.0, 2.0), (25, 29))  # a non-square box
    x, y = np.meshgrid(*solver.nodes(), indexing="ij")
    u = np.sin(np.pi * x) * np.sin(np.pi * y) * np.exp(x)  # zero on the boundary of [0, 1] x [0, 2]
    lap = np.exp(x) * np.sin(np.pi * y) * ((1 - 2 * np.pi**2) * np.sin(np.pi * x) + 2 * np.pi * np.cos(np.pi * x))
    got = np.asarray(solver(jnp.asarray(-lap)))
    assert np.max(np.abs(got - u)) < 1e-10
    # the same as the dense Kronecker Laplacian on the interior nodes (collocation matrices)
    grid = ChebyshevGrid(("x", "y"), (0.0, 0.0), (1.0, 2.0), (25, 29))
    dxx, dyy = (np.asarray(grid.differentiation_matrix(i, 2, jnp.float64))[1:-1, 1:-1] for i in (0, 1))
    dense = np.kron(dxx, np.eye(27)) + np.kron(np.eye(23), dyy)
    interior = np.linalg.solve(-dense, -lap[1:-1, 1:-1].ravel()).reshape(23, 27)
    np.testing.assert_allclose(got[1:-1, 1:-1], interior, atol=1e-12)
    assert np.all(got[[0, -1]] == 0) and np.all(got[:, [0, -1]] == 0)
    # 3D, a polynomial of degree 3 per axis: exact on 5 nodes up to round-off
    solver3 = ChebyshevPoisson((0.0,) * 3, (1.0,) * 3, (5, 5, 5))
    x, y, z = np.meshgrid(*solver3.nodes(), indexing="ij")
    u3 = x * (1 - x) * y * (1 - y) * z * (1 - z) * (1 + x * y)
    q = [x * (1 - x), y * (1 - y), z * (1 - z)]
    lap3 = (-2 * q[1] * q[2] * (1 + x * y) + 2 * (1 - 2 * x) * y * q[1] * q[2]
            - 2 * q[0] * q[2] * (1 + x * y) + 2 * (1 - 2 * y) * x * q[0] * q[2]
            - 2 * q[0] * q[1] * (1 + x * y))
    assert np.max(np.abs(np.asarray(solver3(jnp.asarray(-lap3))) - u3)) < 1e-14


def test_the_file_holds_sources_and_solutions_on_the_lobatto_nodes(tmp_path):
    cfg = {"name": "d", "seed": 0, "n_samples": 3, "chunk_size": 3, "dtype": "float64",
           "generator": {"name": "poisson_dirichlet", "n_points": 13, "precision": "float64"}}
    with jax.enable_x64(True):
        generate(cfg, tmp_path / "d.h5", progress=False)
    ds = load_dataset(tmp_path / "d.h5", split=None)
    coords = [ds.coordinates[f"{c}-coordinate"] for c in ds.spatial]
    assert ds.spatial == ("x", "y") and ds.attrs["boundary"] == "dirichlet"
    for c in coords:  # ascending, both ends included
        np.testing.assert_allclose(c, lobatto_nodes(13, 0.0, 1.0), atol=1e-15)
        assert c[0] == 0.0 and c[-1] == 1.0 and np.all(np.diff(c) > 0)
    u, s = np.asarray(ds.arrays["tensor"])[:, 0], np.asarray(ds.arrays["source"])
    assert u.shape == s.shape == (3, 13, 13) and np.all(np.std(s, axis=(1, 2)) > 0.1)
    assert np.all(u[:, [0, -1]] == 0) and np.all(u[:, :, [0, -1]] == 0)
    grid = ChebyshevGrid(("x", "y"), (0.0, 0.0), (1.0, 1.0), (13, 13))
    lap = grid.derivative(jnp.asarray(u), {"x": 2}) + grid.derivative(jnp.asarray(u), {"y": 2})
    residual = np.asarray(lap + s)[:, 1:-1, 1:-1]  # -Δu = s at the interior nodes
    assert np.max(np.abs(residual)) < 1e-10 * np.max(np.abs(s))
