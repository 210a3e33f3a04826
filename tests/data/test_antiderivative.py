"""The DeepONet antiderivative generator: field statistics, integral accuracy, file round trip."""

import math

import jax
import numpy as np
import pytest
from scipy.integrate import cumulative_simpson
from scipy.special import erf

import pdejax.data.antiderivative  # noqa: F401  (registers "antiderivative")
from pdejax.config import ConfigError
from pdejax.data import GENERATORS, generate, load_dataset, sample_key
from pdejax.data.antiderivative import rbf_grf_basis
from pdejax.data.generators import check_generator

L = 0.2


def _rbf(x, y, length_scale=L):
    return np.exp(-((x[:, None] - y[None]) ** 2) / (2 * length_scale**2))


def _build(**args):
    return GENERATORS.build("antiderivative", args, where="generator")


def test_shapes_axes_and_coordinates():
    gen = _build()
    check_generator(gen, "antiderivative")
    assert {n: (s.shape, s.axes) for n, s in gen.arrays.items()} == {
        "tensor": ((1, 100), ("t", "x")), "u": ((100,), ("x",))}
    np.testing.assert_array_equal(gen.coordinates()["x-coordinate"], np.linspace(0, 1, 100))
    out = gen.sample(jax.random.key(0))
    assert out["u"].shape == (100,) and out["tensor"].shape == (1, 100) and out["u"].dtype == np.float32
    assert gen.covariance_error < 1e-10 and gen.rank == 17
    assert gen.attributes()["pde"] == "antiderivative"


def test_covariance_of_u_and_s_is_exact(x64):
    """The modes' covariance against the RBF kernel and its double integral, in closed form."""
    gen = _build(precision="float64")
    x = np.linspace(0, 1, 100)
    np.testing.assert_allclose(gen.u_modes @ gen.u_modes.T, _rbf(x, x), atol=1e-10)
    # Var s(x) = ∫₀ˣ∫₀ˣ k = 2 l² (exp(−x²/(2l²)) − 1) + l x √(2π) erf(x / (√2 l))
    var_s = 2 * L**2 * (np.exp(-(x**2) / (2 * L**2)) - 1) + L * x * math.sqrt(2 * math.pi) * erf(x / (math.sqrt(2) * L))
    np.testing.assert_allclose(np.sum(gen.s_modes**2, axis=1), var_s, atol=1e-10)


def test_monte_carlo_covariance_matches_the_kernel():
    gen = _build()
    n = 4000
    u = np.asarray(jax.jit(jax.vmap(gen.sample))(jax.random.split(jax.random.key(1), n))["u"], np.float64)
    x = np.linspace(0, 1, 100)
    k = _rbf(x, x)
    # E[u_i u_j] = k_ij (zero mean); the estimate's standard deviation is sqrt((1 + k_ij²) / n).
    empirical = u.T @ u / n
    assert np.max(np.abs(empirical - k) / np.sqrt((1 + k**2) / n)) < 5
    assert np.max(np.abs(u.mean(axis=0))) < 5 / math.sqrt(n)


def test_s_is_the_integral_of_u(x64):
    """The closed-form antiderivative against composite Simpson on 19 801 points of the same u."""
    gen = _build(precision="float64")
    z = np.random.default_rng(0).normal(size=gen.rank)
    out = gen.from_coefficients(jax.numpy.asarray(z))
    fine = np.linspace(0, 1, 99 * 200 + 1)  # every 200th point is a sensor
    u_fine, _ = rbf_grf_basis(fine, L, gen.n_quadrature)
    np.testing.assert_allclose(out["u"], u_fine[::200] @ z, atol=1e-10)  # roundoff of the high modes: ~1e-11
    s_fine = cumulative_simpson(u_fine @ z, x=fine, initial=0.0)  # truncation error ~ h^4 |u''''| / 180: 1e-16
    np.testing.assert_allclose(out["tensor"][0], s_fine[::200], atol=1e-10)


def test_generate_writes_what_load_dataset_reads(tmp_path):
    cfg = {"name": "antiderivative", "seed": 5, "n_samples": 6, "chunk_size": 4, "dtype": "float32",
           "generator": {"name": "antiderivative", "n_sensors": 50}}
    generate(cfg, tmp_path / "a.h5", progress=False)
    data = load_dataset(tmp_path / "a.h5")
    u, s = np.asarray(data.arrays["u"]), np.asarray(data.tensor)
    assert u.shape == (6, 50) and s.shape == (6, 1, 50) and u.dtype == np.float32
    assert data.axes == {"tensor": ("sample", "t", "x"), "u": ("sample", "x")}
    x = data.coordinates["x-coordinate"]
    np.testing.assert_allclose(x, np.linspace(0, 1, 50))
    assert data.attrs["pde"] == "antiderivative" and data.attrs["rank"] == 17
    # sample i is generator.sample(fold_in(key(seed), i))
    ref = _build(n_sensors=50).sample(sample_key(5, 3))
    np.testing.assert_allclose(u[3], ref["u"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s[3], ref["tensor"], rtol=1e-6, atol=1e-6)
    # s(0) = 0 and s' = u (fourth-order differences inside; h = 1/49)
    assert np.all(s[:, 0, 0] == 0)
    h = x[1] - x[0]
    ds = (s[:, 0, :-4] - 8 * s[:, 0, 1:-3] + 8 * s[:, 0, 3:-1] - s[:, 0, 4:]) / (12 * h)
    np.testing.assert_allclose(ds, u[:, 2:-2], atol=2e-3 * np.abs(u).max())
    assert len(load_dataset(tmp_path / "a.h5", split="train")) == 6 - int(6 * 0.1)


@pytest.mark.parametrize("args, key", [
    ({"n_sensors": 1}, "generator.n_sensors"),
    ({"length_scale": 0.0}, "generator.length_scale"),
    ({"length_scale": 0.02, "n_quadrature": 32}, "generator.n_quadrature"),  # under-resolved field
    ({"precision": "float64"}, "generator.precision"),  # without x64
])
def test_bad_arguments_name_the_key(args, key):
    with pytest.raises(ConfigError) as err:
        _build(**args)
    assert err.value.key == key
