"""The reference solver of the Dirichlet Poisson data (``poisson_dirichlet``), in float64: against
manufactured solutions and the dense Kronecker system. The file itself is checked in
``tests/objectives/test_nsm_dirichlet.py``, which trains on it."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.data.nsm_problems import ChebyshevPoisson
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
