"""Sobol' and Halton points against scipy.stats.qmc, their net structure under scrambling,
their discrepancy against uniform points, and the samplers built from them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import qmc

from pdejax.sampling import SAMPLERS, halton_points, sobol_points
from pdejax.sampling.quasirandom import MAX_HALTON_DIM, MAX_SOBOL_DIM


@pytest.mark.parametrize("d", [2, MAX_SOBOL_DIM])
def test_sobol_is_scipys_sequence(x64, d):
    ours = np.asarray(sobol_points(1024, d))
    np.testing.assert_array_equal(ours, qmc.Sobol(d, scramble=False, bits=32).random(1024))


@pytest.mark.parametrize("d", [2, MAX_HALTON_DIM])
def test_halton_is_scipys_sequence(x64, d):
    ours = np.asarray(halton_points(1000, d))
    np.testing.assert_allclose(ours, qmc.Halton(d, scramble=False).random(1000), rtol=0, atol=2e-16)


def _boxes(points: np.ndarray, splits: tuple[int, ...]) -> np.ndarray:
    """Points per box of the grid with ``splits[j]`` equal cells along dimension j."""
    cells = np.floor(points[:, : len(splits)] * np.asarray(splits)).astype(int)
    return np.bincount(np.ravel_multi_index(cells.T, splits), minlength=int(np.prod(splits)))


@pytest.mark.parametrize("points", [sobol_points, halton_points])
def test_scrambled_points_are_random_even_and_keep_their_structure(x64, points):
    n, d = 256, 3
    sets = [np.asarray(points(n, d, jax.random.key(s))) for s in range(4)]
    np.testing.assert_array_equal(sets[0], np.asarray(points(n, d, jax.random.key(0))))  # a function of the key
    assert all(not np.allclose(sets[0], other) for other in sets[1:])
    assert all(p.min() >= 0 and p.max() < 1 for p in sets)
    for pts in sets:
        if points is sobol_points:
            # Dimensions 1 and 2 of the first 2^8 points form a (0, 8, 2)-net, scrambled or
            # not: every box of 2^a x 2^(8 - a) cells holds one point. A wrong scramble breaks it.
            assert all(np.all(_boxes(pts, (2**a, 2 ** (8 - a))) == 1) for a in range(9))
        else:  # digit permutations keep base 2's stratification: one point per 1/256
            assert np.all(_boxes(pts[:, :1], (256,)) == 1)
    rng = np.random.default_rng(0)
    uniform = np.mean([qmc.discrepancy(rng.random((n, d))) for _ in range(4)])
    ours = np.mean([qmc.discrepancy(p) for p in sets])
    assert ours < 0.1 * uniform, (ours, uniform)


@pytest.mark.parametrize("name", ["sobol", "halton"])
def test_samplers_draw_fresh_points_in_the_box(name):
    n = 2048
    sampler = SAMPLERS.build(name, {}, where="objective.sampler", lower=(-1.0, 0.0), upper=(1.0, 2.0), n=n)
    state = sampler.init(jax.random.key(0), jnp.float32)
    a, _ = sampler.sample(state, jax.random.key(1), 0, None, jnp.float32)
    b, _ = sampler.sample(state, jax.random.key(2), 1, None, jnp.float32)
    for pts in (a, b):
        assert pts.shape == (n, 2) and pts.dtype == jnp.float32
        assert np.all((np.asarray(pts) >= [-1, 0]) & (np.asarray(pts) <= [1, 2]))
    assert not np.allclose(a, b)
    # float32 keeps the bits it can hold exactly, so no point rounds up to 1
    raw = {"sobol": sobol_points, "halton": halton_points}[name](n, 2, jax.random.key(3), dtype=jnp.float32)
    assert 0 <= float(raw.min()) and float(raw.max()) < 1
