"""Integrator: exact NFE against a counter, the error-estimate penalty against a manual sum
over accepted steps, validation and failure messages."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.dynamics.accounting import ERROR_ESTIMATE, AccountingSolver, _scaled_error
from pdejax.dynamics.integrate import Integrator

Y0 = (1.0, 0.0)
TS = np.linspace(0.0, 10.0, 5)


def damped(t, y, args):
    return jnp.stack([y[1], -y[0] - 0.1 * y[1] ** 3])


def counted(counter):
    def field(t, y, args):
        jax.debug.callback(lambda: counter.__setitem__(0, counter[0] + 1))
        return damped(t, y, args)

    return field


@pytest.mark.parametrize("config", [dict(solver="tsit5"), dict(solver="heun", controller="constant", dt0=0.1)])
def test_nfe_equals_counted_evaluations(x64, config):
    counter = [0]
    sol = Integrator(**config).solve_ode(counted(counter), jnp.asarray(Y0), jnp.asarray(TS))
    jax.effects_barrier()
    if config["solver"] == "tsit5":
        assert int(sol.stats["num_rejected_steps"]) > 0  # rejected steps are counted too
    assert int(sol.stats["nfe"]) == counter[0]


def test_integrals_ride_along_without_changing_the_steps(x64):
    integrator = Integrator(rtol=1e-8, atol=1e-8)
    plain = integrator.solve_ode(damped, jnp.asarray(Y0), jnp.asarray(TS))
    field = lambda t, y, args: (damped(t, y, args), {"t": t})
    sol = integrator.solve_ode(field, jnp.asarray(Y0), jnp.asarray(TS), integrands=True)
    assert int(sol.stats["num_steps"]) == int(plain.stats["num_steps"])
    np.testing.assert_allclose(sol.ys, plain.ys, rtol=0, atol=1e-14)
    np.testing.assert_allclose(sol.integrals["t"], TS[-1] ** 2 / 2, rtol=1e-10)


def test_error_estimate_sums_accepted_steps_only(x64):
    integrator = Integrator(rtol=1e-6, atol=1e-6)
    y0, ts = jnp.asarray(Y0), jnp.asarray(TS)
    sol = integrator.solve_ode(damped, y0, ts, error_estimate=True)
    assert int(sol.stats["num_rejected_steps"]) > 0
    # The accepted steps of the same solve, then each one's scaled error times its size.
    steps = diffrax.diffeqsolve(diffrax.ODETerm(damped), AccountingSolver(diffrax.Tsit5()), ts[0], ts[-1], None,
                                y0, saveat=diffrax.SaveAt(t0=True, steps=True),
                                stepsize_controller=integrator.step_size_controller(), max_steps=4096)
    n = int(steps.stats["num_accepted_steps"])
    assert n == int(sol.stats["num_accepted_steps"])
    t, y = steps.ts[: n + 1], steps.ys[: n + 1]

    @jax.jit
    def penalty(t0, t1, y0):
        tsit5, term = diffrax.Tsit5(), diffrax.ODETerm(damped)
        y1, err, *_ = tsit5.step(term, t0, t1, y0, None, tsit5.init(term, t0, t1, y0, None), False)
        return _scaled_error(err, y0, y1, 1e-6, 1e-6) * (t1 - t0)

    total = float(jnp.sum(jax.vmap(penalty)(t[:-1], t[1:], y[:-1])))
    np.testing.assert_allclose(sol.integrals[ERROR_ESTIMATE], total, rtol=1e-10)


@pytest.mark.parametrize("config, message", [
    (dict(solver="rk99"), "solver 'rk99': valid tsit5, dopri5"),
    (dict(solver="shark"), "solver 'shark': valid tsit5.*SDE solver"),
    (dict(solver="tsit5", kind="sde"), "solver 'tsit5': valid euler, milstein.*ODE solver"),
    (dict(controller="pi"), "controller 'pi': valid pid, constant"),
    (dict(adjoint="direct"), "adjoint 'direct': valid recursive_checkpoint, backsolve"),
    (dict(controller="constant"), "dt0 None: valid a positive number"),
    (dict(rtol=0.0), "rtol 0.0: valid a positive number"),
    (dict(atol=-1e-6), "atol -1e-06: valid a positive number"),
    (dict(max_steps=0), "max_steps 0: valid an integer >= 1"),
    (dict(solver="euler"), "controller 'pid': solver 'euler' gives no error estimate"),
])
def test_invalid_settings_name_the_field_and_the_choices(config, message):
    with pytest.raises(ValueError, match=message):
        Integrator(**config)


def test_wrong_kind_of_solve_and_backsolve_error_estimate():
    with pytest.raises(ValueError, match="solve_sde on an integrator of kind 'ode'"):
        Integrator().solve_sde(damped, damped, jnp.ones(2), jnp.linspace(0, 1, 2), key=jax.random.key(0))
    with pytest.raises(ValueError, match="error_estimate with adjoint 'backsolve'"):
        Integrator(adjoint="backsolve").solve_ode(damped, jnp.ones(2), jnp.linspace(0, 1, 2), error_estimate=True)


def test_max_steps_exhaustion_is_one_clear_error():
    integrator = Integrator(rtol=1e-8, atol=1e-8, max_steps=3)
    y0, ts = jnp.asarray(Y0), jnp.asarray(TS)
    with pytest.raises(RuntimeError, match=r"Integrator\(solver='tsit5'.*max_steps=3\) stopped before the final "
                                           r"time \(max steps reached\); try a larger max_steps"):
        integrator.solve_ode(damped, y0, ts)
    with pytest.raises(Exception, match="max_steps=3.*stopped before the final time"):
        eqx.filter_jit(lambda y: integrator.solve_ode(damped, y, ts).ys)(y0)


def test_sde_euler_maruyama_nfe_and_shape(x64):
    counter = [0]

    def drift(t, y, args):
        jax.debug.callback(lambda: counter.__setitem__(0, counter[0] + 1))
        return -y

    integrator = Integrator(solver="euler", controller="constant", dt0=0.01, kind="sde")
    sol = integrator.solve_sde(drift, lambda t, y, args: 0.1 * jnp.ones_like(y), jnp.ones(3),
                               jnp.linspace(0.0, 1.0, 11), key=jax.random.key(0))
    jax.effects_barrier()
    assert sol.ys.shape == (11, 3) and bool(jnp.all(jnp.isfinite(sol.ys)))
    assert int(sol.stats["nfe"]) == counter[0] == 100
