"""Gray–Scott reaction–diffusion in 1D/2D/3D (float64): closed form, consistency, order."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.config.errors import ConfigError
from pdejax.pde import PDES, check_consistency, gray_scott, grid_for, initial_condition, spectral_solve

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def test_trivial_state_relaxes_at_the_closed_form_rate_in_3d():
    """With v = 0 the u equation is linear: u = 1 + a e^{-(Du |k|² + F) t} cos(k·x), and the
    feed F (a forcing held in Fourier space) balances -F u at u = 1."""
    pde = gray_scott(dim=3, length=2.5, diffusivity_u=2e-3, feed=0.04)
    grid = grid_for(pde, 8)
    x, y, z = grid.mesh()
    k = 2 * math.pi / 2.5 * jnp.asarray([1.0, 2.0, 1.0])
    u0 = jnp.stack([1 + 0.3 * jnp.cos(k[0] * x + k[1] * y + k[2] * z), jnp.zeros_like(x)])
    traj = spectral_solve(pde, grid, u0, dt=2.0, n_steps=50, save_every=50, dealias="1/2")
    rate = 2e-3 * float(jnp.sum(k**2)) + 0.04
    exact = 1 + 0.3 * math.exp(-rate * 100.0) * jnp.cos(k[0] * x + k[1] * y + k[2] * z)
    np.testing.assert_allclose(traj[-1, 0], exact, atol=1e-13)
    np.testing.assert_allclose(traj[-1, 1], 0.0, atol=1e-15)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_definition_is_consistent_by_autodiff_and_fft(dim):
    assert check_consistency(gray_scott(dim=dim), size=8 if dim == 3 else 16).ok


def test_etdrk4_converges_at_fourth_order_on_the_nonlinear_dynamics():
    """2D spots from the Gaussian seed (F = 0.04, k = 0.06), 1/2-rule dealiasing: the error
    at T = 40 against a 16x finer step falls by 2^4 per halving of dt."""
    pde = gray_scott(dim=2, width=0.25)
    grid = grid_for(pde, 32)
    u0 = initial_condition(pde, grid)
    run = lambda dt: spectral_solve(pde, grid, u0, dt=dt, n_steps=round(40 / dt), save_every=round(40 / dt),
                                    dealias="1/2")[-1]
    reference = run(1 / 16)
    errors = [float(jnp.max(jnp.abs(run(dt) - reference))) for dt in (2.0, 1.0, 0.5)]
    orders = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert errors[-1] < 1e-7 and np.all(orders > 3.8), (errors, orders)


def test_bad_parameters_name_the_key():
    with pytest.raises(ConfigError, match="dim"):
        PDES.build("gray_scott", {"dim": 4}, where="pde")
    with pytest.raises(ConfigError, match="diffusivity_v"):
        gray_scott(diffusivity_v=0.0)


def test_explicit_reaction_split_is_the_more_accurate_one():
    """The library keeps -F u, -(F + k) v explicit (exponential={u: [u_xx...], ...}): the
    same PDE as with them in the exponential part (both converge to one solution), with
    an error constant an order of magnitude smaller at the same step."""
    split = {r: gray_scott(dim=2, width=0.25, reaction=r) for r in ("explicit", "exponential")}
    assert split["explicit"].exponential == {"u": ("u_xx", "u_yy"), "v": ("v_xx", "v_yy")}
    grid = grid_for(split["explicit"], 32)
    u0 = initial_condition(split["explicit"], grid)
    run = lambda pde, dt: spectral_solve(pde, grid, u0, dt=dt, n_steps=round(16 / dt), save_every=round(16 / dt),
                                         dealias="1/2")[-1]
    reference = run(split["explicit"], 1 / 16)
    np.testing.assert_allclose(run(split["exponential"], 1 / 16), reference, atol=1e-9)
    errors = {r: float(jnp.max(jnp.abs(run(pde, 1.0) - reference))) for r, pde in split.items()}
    assert errors["explicit"] < errors["exponential"] / 10, errors


def test_exponential_split_is_validated():
    from pdejax.pde import PDE, Box, Periodic
    kw = dict(name="p", fields=("u",), domain=Box(x=(0.0, 1.0), t=(0.0, 1.0)), boundary=Periodic(),
              linear={"u": {"u_xx": 1.0, "u": -1.0}}, initial=lambda x, p: {"u": 0.0})
    with pytest.raises(ValueError, match=r"exponential\['u'\] names \['u_x'\]; valid: the linear terms"):
        PDE(exponential={"u": ["u_x"]}, **kw)
    with pytest.raises(ValueError, match="exponential names 'v'"):
        PDE(exponential={"v": ["u_xx"]}, **kw)
