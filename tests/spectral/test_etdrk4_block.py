"""BlockETDRK4: 2x2 matrix phi-functions against the augmented-matrix exponential (float64)."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from pdejax.spectral import ETDRK4, BlockETDRK4
from pdejax.spectral.etdrk4_block import block_coefficients, matrix_coefficients

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def _reference(z, h):
    """ETDRK4 coefficients of a 2x2 ``Z = h M`` from ``expm`` of augmented matrices: the top
    row of ``exp([[Z, I, 0, 0], [0, 0, I, 0], [0, 0, 0, I], 0])`` is ``[e^Z, φ1, φ2, φ3](Z)``."""
    eye = np.eye(2)
    big = np.zeros((8, 8), complex)
    big[:2, :2], big[:2, 2:4], big[2:4, 4:6], big[4:6, 6:8] = z, eye, eye, eye
    top = scipy.linalg.expm(big)[:2]
    phi1, phi2, phi3 = top[:, 2:4], top[:, 4:6], top[:, 6:8]
    half = np.zeros((4, 4), complex)
    half[:2, :2], half[:2, 2:] = z / 2, eye
    half = scipy.linalg.expm(half)[:2]
    return [top[:, :2], half[:, :2], h / 2 * half[:, 2:], h * (phi1 - 3 * phi2 + 4 * phi3),
            h * (phi2 - 2 * phi3), h * (-phi2 + 4 * phi3)]


# (a, b) of the block [[0, 1], [a, b]]: nilpotent (massless mode 0), Klein–Gordon far
# beyond the explicit limit, near-degenerate, damped (real eigenvalues), complex symbols.
BLOCKS = [(0, 0), (-1e-10, 0), (-1, 0), (-(42**2 + 1), 0), (-4, -0.3), (-100, -50), (-(10 + 3j), 0.1j),
          (0.5, 0.1), (-0.2, 0.9)]


def test_block_coefficients_match_the_augmented_exponential():
    h = 0.2
    z = np.stack([h * np.array([[0, 1], [a, b]], complex) for a, b in BLOCKS]
                 + [np.array([[0.3, 1.2], [-0.7, -2.0]]), np.array([[-3.0, 0], [0, -3.0]])])
    got = block_coefficients(z, h)
    for i in range(len(z)):
        for name, g, r in zip(["e", "e2", "q", "f1", "f2", "f3"], got, _reference(z[i], h)):
            assert np.max(np.abs(g[i] - r)) <= 1e-14 * max(1.0, np.max(np.abs(r))), (i, name)


def test_diagonal_symbol_gives_the_scalar_coefficients():
    sym = np.array([-0.0, -1.0, -50.0, -1e4])
    block = BlockETDRK4(np.stack([np.diag([s, 2 * s]) for s in sym], axis=-1), lambda v, t: v, dt=0.1)
    scalar = ETDRK4(np.stack([sym, 2 * sym]), lambda v, t: v, dt=0.1)
    for name in ["e", "e2", "q", "f1", "f2", "f3"]:
        diag = jnp.stack([getattr(block, name)[0, 0], getattr(block, name)[1, 1]])
        np.testing.assert_allclose(diag, getattr(scalar, name), rtol=1e-13, atol=1e-16, err_msg=name)


def test_oscillator_with_forcing_is_fourth_order():
    # u'' = -u + cos(2t), u(0) = 1, u'(0) = 0: u = (4/3) cos t - (1/3) cos 2t.
    def solve(dt):
        step = BlockETDRK4(jnp.array([[0.0, 1.0], [-1.0, 0.0]]),
                           lambda v, t: jnp.stack([0 * t, jnp.cos(2 * t)]), dt=dt)
        v = jnp.array([1.0, 0.0])
        for k in range(int(round(2.0 / dt))):
            v = step(v, k * dt)
        return abs(float(v[0]) - (4 / 3 * np.cos(2.0) - 1 / 3 * np.cos(4.0)))

    errors = [solve(dt) for dt in (0.2, 0.1, 0.05)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 3.7), (errors, orders)


def test_blocks_larger_than_two_are_refused():
    sym = np.zeros((3, 3, 4))
    sym[0, 1] = sym[1, 2] = 1.0
    with pytest.raises(ValueError, match=r"couples components \[0, 1, 2\]"):
        matrix_coefficients(sym, 0.1)
