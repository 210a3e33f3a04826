"""Lie-point-symmetry augmentation: transformed trajectories still solve their PDE, wrong
transforms do not, draws are a function of the key, and configs are checked at the boundary.

The PDE checks are in float64 on ETDRK4 trajectories (64 points, 20 frames): the residual
``u_t - F(u)`` (``F`` from the PDE definition by FFT, ``u_t`` by sixth-order central
differences across frames) of each transformed trajectory, relative to ``|u_t|``, must stay
at the level of the untransformed one's; a translation-only "boost" and boosts with the
wrong offset are rejected by the same measure by orders of magnitude.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdejax
from pdejax.config import ConfigError
from pdejax.data import generate
from pdejax.objectives.operator import Augmentation, Conditioned
from pdejax.pde import (
    PDES,
    GalileanBoost,
    Scaling,
    SpaceTranslation,
    TrajectoryCoordinates,
    grid_for,
    grid_rhs,
    spectral_solve,
    symmetry_groups,
    transform_trajectory,
)
from pdejax.spectral import fourier_shift, galilean_boost

N, FRAMES, SAVE, DT = 64, 20, 20, 1e-3  # frames every 0.02
CASES = {  # name: (library PDE arguments, rebuild with the log-factors a scaling reports)
    "kuramoto_sivashinsky": {"length": 22.0},
    "kdv": {"alpha": 2.0, "beta": 1.0, "length": 32.0},  # alpha != 1: the boost's offset is eps / alpha
    "burgers": {"nu": 0.05, "x_min": 0.0, "x_max": 2 * math.pi, "periodic": True},
}
EPS = {"SpaceTranslation": (0.3, -0.45), "GalileanBoost": (0.4, -0.7), "Scaling": (0.1,)}  # group parameters


def rebuilt(name: str, factors: dict) -> pdejax.pde.PDE:
    """The PDE a rescaled trajectory solves: the period and parameters times their factors."""
    args = dict(CASES[name])
    if "length" in factors:
        args["length"] = args["length"] * math.exp(float(factors["length"]))
    for param in ("nu", "alpha", "beta"):
        if param in factors:
            args[param] = args[param] * math.exp(float(factors[param]))
    return PDES.build(name, args, where="pde")


@functools.cache
def residual_fn(name: str, factors: tuple = ()):
    """Jitted ``|u_t - F(u)| / |u_t|`` per trajectory of a stack ``(B, T, 1, n)`` at times ``(B, T)``,
    for PDE ``name`` rescaled by ``factors`` (``((quantity, log-factor), ...)``)."""
    pde = rebuilt(name, dict(factors))
    grid = grid_for(pde, N)
    weights = np.array([-1 / 60, 3 / 20, -3 / 4, 0.0, 3 / 4, -3 / 20, 1 / 60])  # u_t, sixth order

    def one(frames, t):
        count = frames.shape[0] - 6
        u_t = sum(w * frames[j:j + count] for j, w in enumerate(weights)) / (t[1] - t[0])
        rhs = jax.vmap(lambda u, s: grid_rhs(pde, grid, u, s))(frames[3:-3], t[3:-3])
        return jnp.sqrt(jnp.mean((u_t - rhs) ** 2) / jnp.mean(u_t**2))

    return jax.jit(jax.vmap(one))


def residuals(name: str, stack, times, factors: dict | None = None) -> np.ndarray:
    """Relative residuals of ``stack`` ``(B, T, 1, n)`` at ``times`` ``(T,)`` or ``(B, T)``."""
    key = tuple(sorted((k, round(float(v), 12)) for k, v in (factors or {}).items()))
    return np.asarray(residual_fn(name, key)(stack, jnp.broadcast_to(times, stack.shape[:2])))


@pytest.fixture(scope="module")
def solutions():
    """One float64 ETDRK4 trajectory ``(T, 1, 64)`` per PDE from a smooth random start, and its times."""
    out = {}
    with jax.enable_x64(True):
        for name, args in CASES.items():
            pde = PDES.build(name, args, where="pde")
            grid = grid_for(pde, N)
            x = grid.coordinates()[0] - grid.lower[0]
            length = grid.lengths[0]
            u0 = 0.4 * jnp.sin(2 * jnp.pi * x / length + 1.0) - 0.3 * jnp.cos(4 * jnp.pi * x / length + 0.3) \
                + 0.2 * jnp.sin(6 * jnp.pi * x / length)
            solve = functools.partial(spectral_solve, pde, grid, dt=DT, n_steps=FRAMES * SAVE, save_every=SAVE)
            traj = jax.jit(solve)(u0[None])
            out[name] = (pde, traj, jnp.arange(FRAMES + 1) * DT * SAVE)
    return out


def test_fourier_shift_is_exact_for_band_limited_fields_and_a_roll_by_whole_cells(x64):
    shift = jax.jit(fourier_shift)
    length, n, cells = 5.0, 16, np.array([1, 3, -5])
    x = length * np.arange(n) / n
    u = np.sin(2 * np.pi * 3 * x / length) + np.cos(2 * np.pi * 8 * x / length)  # with the Nyquist mode
    rolled = shift(jnp.asarray(np.stack([u] * 3)), jnp.asarray(cells * length / n), length)  # one shift per row
    np.testing.assert_allclose(rolled, np.stack([np.roll(u, c) for c in cells]), atol=1e-13)
    y = 64.0 * np.arange(64) / 64  # exp(sin): not band-limited, but resolved to round-off by 64 points
    moved = shift(jnp.asarray(np.exp(np.sin(2 * np.pi * y / 64))), 7.3, 64.0)
    np.testing.assert_allclose(moved, np.exp(np.sin(2 * np.pi * (y - 7.3) / 64)), atol=1e-12)
    # many periods away in float32: the shift is reduced modulo the period before the phase
    far = shift(jnp.asarray(u, jnp.float32), 1e4 * length + 0.5, length)
    np.testing.assert_allclose(far, shift(jnp.asarray(u), 0.5, length), atol=2e-5)


@pytest.mark.parametrize("name", CASES)
def test_every_registered_group_maps_solutions_to_solutions(solutions, name, x64):
    """Both signs of each group that keeps the grid's meaning (one stack, one compile), and the
    rescaling groups on the PDE with the rescaled period or parameter."""
    pde, traj, times = solutions[name]
    groups = symmetry_groups(name, pde.params, where="test")
    assert {"space_shift", "galilean"} <= set(groups) and ("scaling" in groups) == (name != "kuramoto_sivashinsky")
    coords = TrajectoryCoordinates(times, jnp.asarray(pde.domain.lengths[0]), {})
    plain = [group(traj, eps, coords)[0] for group in groups.values() if not group.changes
             for eps in EPS[type(group).__name__]]
    base, *moved = residuals(name, jnp.stack([traj, *plain]), times)
    assert base < 2e-4, base  # the measure's floor: FD in time, the solver's dealiasing
    assert max(moved) < 2 * base, (moved, base)
    for group in (g for g in groups.values() if g.changes):
        out, where = group(traj, EPS[type(group).__name__][0], coords)
        assert set(where.log_factors) == set(group.changes)
        r = residuals(name, out[None], where.times, where.log_factors)[0]
        assert r < 2 * base, (type(group).__name__, r, base)
    for out in plain:
        assert float(jnp.max(jnp.abs(out - traj))) > 1e-2  # each did something


def test_scaling_reports_what_it_changes(solutions, x64):
    _, traj, times = solutions["kdv"]
    coords = TrajectoryCoordinates(times, jnp.asarray(32.0), {})
    moved, where = Scaling(x=1.0, t=3.0, u=-2.0)(traj, 0.1, coords)
    np.testing.assert_allclose(moved, traj * math.exp(-0.2), rtol=1e-14)
    np.testing.assert_allclose(where.times, times * math.exp(0.3), rtol=1e-14)
    assert float(where.length) == pytest.approx(32.0 * math.exp(0.1), rel=1e-14)
    assert {k: float(v) for k, v in where.log_factors.items()} == pytest.approx({"length": 0.1, "dt": 0.3})
    burgers = symmetry_groups("burgers", {}, where="test")["scaling"]
    assert burgers.changes == ("dt", "nu")
    pde = solutions["kdv"][0]  # the same from Python, by group name
    again, where = transform_trajectory(pde, traj, times, scaling=0.1)
    np.testing.assert_allclose(again, moved, rtol=1e-14)
    assert float(where.length) == pytest.approx(32.0 * math.exp(0.1), rel=1e-14)
    with pytest.raises(ValueError, match="galileo"):
        transform_trajectory(pde, traj, times, galileo=0.4)


def test_translation_only_and_wrong_offsets_fail_the_check(solutions, x64):
    """The residual test can fail: boosts without the field offset, with LPSDA's offset for
    ``alpha = 1`` on an ``alpha = 2`` KdV, with the wrong sign, or a KdV scaling with the
    wrong time exponent are all off by orders of magnitude."""
    _, traj, times = solutions["kdv"]
    v, length = 0.4, 32.0
    shifted = fourier_shift(traj, (v * times)[:, None], length)
    stack = jnp.stack([traj, galilean_boost(traj, times, v, length, advection=2.0),  # right: + v / alpha
                       shifted, shifted + v, shifted - v / 2])
    base, right, *wrong = residuals("kdv", stack, times)
    assert right < 2 * base and min(wrong) > 1e3 * base, (right, wrong, base)
    bad, where = Scaling(x=1.0, t=2.0, u=-2.0)(traj, 0.1, TrajectoryCoordinates(times, jnp.asarray(length), {}))
    r = residuals("kdv", bad[None], where.times, where.log_factors)[0]
    assert r > 1e3 * base, (r, base)


KS_GROUPS = (("space_shift", SpaceTranslation(), 1.0), ("galilean", GalileanBoost(), 0.4))


def test_augmentation_is_a_function_of_the_key():
    frames = jnp.asarray(np.random.default_rng(0).normal(size=(6, 4, 1, 32)), jnp.float32)
    starts = jnp.arange(6)
    aug = jax.jit(Augmentation(KS_GROUPS, dt=0.5, time0=0.0, length=64.0))
    (a, values), (b, _), (c, _) = (jax.device_get(aug(frames, starts, jax.random.key(k))) for k in (1, 1, 2))
    assert values.shape == (6, 0)
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 0.1
    # the boost adds its velocity: each sample's mean moves by eps, |eps| <= 0.4, and differently per sample
    offsets = np.mean(a - np.asarray(frames), axis=(1, 2, 3))
    assert np.all(np.abs(offsets) <= 0.4 + 1e-5) and len(set(np.round(offsets, 5))) == 6
    half = Augmentation(KS_GROUPS, dt=0.5, time0=0.0, length=64.0, probability=0.5)
    out = np.asarray(jax.jit(half)(frames, starts, jax.random.key(3))[0])
    same = [np.array_equal(out[i], frames[i]) for i in range(6)]
    assert any(same) and not all(same)


def test_windows_are_boosted_at_their_absolute_times():
    traj = jnp.asarray(np.random.default_rng(0).normal(size=(10, 1, 32)), jnp.float32)
    aug = Augmentation((("galilean", GalileanBoost(), 0.4),), dt=0.5, time0=2.0, length=64.0)
    one = jax.jit(aug.one)
    whole, _ = one(traj, jnp.asarray(0), jax.random.key(5))
    window, _ = one(traj[3:7], jnp.asarray(3), jax.random.key(5))
    np.testing.assert_allclose(window, np.asarray(whole)[3:7], atol=1e-5)


def test_rescaling_groups_condition_the_model():
    frames = np.random.default_rng(0).normal(size=(5, 3, 1, 16)).astype(np.float32)
    groups = symmetry_groups("kdv", {"alpha": 1.0}, where="test")
    aug = Augmentation(tuple((k, g, {"scaling": 0.1}.get(k, 0.0)) for k, g in groups.items()),
                       dt=1.0, time0=0.0, length=128.0)
    out, values = jax.device_get(jax.jit(aug)(jnp.asarray(frames), jnp.zeros(5, int), jax.random.key(0)))
    assert aug.conditions == ("length", "dt") and values.shape == (5, 2)
    eps = values[:, 0]
    assert np.all(np.abs(eps) <= 0.05) and np.allclose(values[:, 1], 3 * eps)
    np.testing.assert_allclose(out, frames * np.exp(-2 * eps)[:, None, None, None], rtol=1e-5)

    weights = np.array([1.0, 2.0, -3.0], np.float32)  # history 1 + 2 conditioning channels -> 1

    def net(x):
        return jnp.tensordot(weights, x, 1)[None]

    model = aug.condition(net)
    assert isinstance(model, Conditioned) and model.values.shape == (2,)

    @jax.jit
    def outputs(x, values):
        per_sample = Conditioned(net, values)
        return model.batch(x), jax.vmap(model)(x), per_sample.batch(x), Conditioned(net, values[1])(x[1])

    x = np.random.default_rng(1).normal(size=(4, 1, 16)).astype(np.float32)
    batch, mapped, per_sample, second = jax.device_get(outputs(x, values[:4]))
    np.testing.assert_allclose(batch, mapped, atol=1e-6)
    np.testing.assert_allclose(batch, x, atol=1e-6)  # zeros: the data's own conditions
    np.testing.assert_allclose(per_sample[1], second, atol=1e-6)
    np.testing.assert_allclose(second[0], x[1, 0] + 2 * values[1, 0] - 3 * values[1, 1], atol=1e-6)


# -- configs ---------------------------------------------------------------------------------

BURGERS = {"name": "burgers_aug", "seed": 0, "n_samples": 24, "chunk_size": 24, "dtype": "float32",
           "generator": {"name": "burgers_fno", "n_points": 32, "nu": 0.1, "t_final": 0.2, "dt": 0.002,
                         "frame_dt": 0.02}}


@pytest.fixture(scope="module")
def burgers_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("augment") / "burgers.h5"
    generate(BURGERS, path, progress=False)
    return path


def config(path, augment, **sections) -> dict:
    cfg = {
        "name": "aug", "seed": 0,
        "data": {"path": str(path), "trajectory": "tensor", "n_train": 16, "n_test": 8, "batch_size": 8,
                 "normalize": "both"},
        "model": {"name": "fno", "modes": [8], "width": 8, "n_layers": 2},
        "objective": {"name": "autoregressive", "history": 2, "unroll": 1, "augment": augment},
        "optimizer": {"name": "adam", "learning_rate": 3e-3},
        "train": {"steps": 20, "steps_per_call": 10, "log_every": 10, "eval_every": 20,
                  "checkpoint_every": 20, "progress": False, "plots": False},
        "parallel": {"data": 1},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    return cfg


PDE = {"name": "burgers", "nu": 0.1, "x_min": 0.0, "x_max": 1.0, "periodic": True}


@pytest.mark.parametrize("augment, sections, key", [
    ({"galilean": 0.4, "scalng": 0.1}, {}, "objective.augment.scalng"),
    ({"galilean": True}, {}, "objective.augment.galilean"),
    ({"space_shift": 0.0}, {}, "objective.augment"),
    ({"space_shift": 1.0, "pde": "navier_stokes"}, {}, "objective.augment.pde"),
    ({"scaling": 0.1, "pde": "kuramoto_sivashinsky"}, {}, "objective.augment.scaling"),  # KS has no scaling
    ({"scaling": 0.1}, {"objective": {"physics_weight": 0.1}, "pde": PDE}, "objective.physics_weight"),
    ({"galilean": 0.4}, {"pde": {**PDE, "nu": 0.2}}, "pde.nu"),  # not the data's PDE
])
def test_bad_augmentation_configs_are_refused_before_training(burgers_file, augment, sections, key):
    with pytest.raises(ConfigError) as err:
        pdejax.experiment.build(config(burgers_file, augment, **sections))
    assert err.value.key == key, str(err.value)


def test_a_negative_magnitude_is_refused(burgers_file):
    with pytest.raises(ConfigError, match="objective.augment"):
        pdejax.experiment.build(config(burgers_file, {"galilean": -0.4}))


def _built_with_a_key_dependent_loss(cfg: dict) -> tuple:
    """``(objective, model, batch)`` of a built config, after checking that its compiled loss
    is finite and a function of the key (the augmentation's draws)."""
    method = pdejax.experiment.build(cfg).method
    objective, model = method.objective, method.model
    batch = jax.tree.map(lambda a: jnp.asarray(a[0]), method.source.get(0, 1))
    method.source.close()
    loss = eqx.filter_jit(lambda m, k: objective.loss(m, batch, k)[0]["data"])
    first, again, other = loss(model, jax.random.key(0)), loss(model, jax.random.key(0)), loss(model, jax.random.key(1))
    assert np.isfinite(float(first)) and float(first) == float(again) != float(other)
    return objective, model, batch


def test_a_refiner_gets_the_rescaling_channels_after_its_own(burgers_file):
    """Scaling with PDE-Refiner: the network sees window (2) + estimate (1) + k one-hot (3) +
    dt, nu (2) channels; training feeds each sample's drawn log-factors, the trained
    operator the data's own (zeros)."""
    cfg = config(burgers_file, {"scaling": 0.2}, objective={"refiner": {"steps": 2}, "loss": "mse"})
    objective, model, batch = _built_with_a_key_dependent_loss(cfg)
    assert objective.augment.conditions == ("dt", "nu") and model.net.in_channels == 2 + 1 + 3 + 2
    step = objective.step_model(model)
    assert isinstance(step.net.net, Conditioned) and not np.any(np.asarray(step.net.net.values))
    # the drawn factors reach the network: zeros and a rescaling give different losses
    frames, key = batch["frames"], jax.random.key(3)
    losses = [float(objective._refiner_loss(objective.augment.condition_refiner(model, jnp.full((len(frames), 2), v)),
                                            frames, key)["data"]) for v in (0.0, 0.0, 0.5)]
    assert losses[0] == losses[1] != losses[2]


def test_the_built_objective_trains_on_augmented_conditioned_windows(burgers_file):
    """The data's PDE is read from the file; scaling adds the dt and nu channels (FNO in: 2 + 2);
    the compiled loss is a function of the key; the evaluated one-step map sees the data's own
    conditions (zeros)."""
    cfg = config(burgers_file, {"space_shift": 1.0, "galilean": 0.5, "scaling": 0.2})
    objective, model, _ = _built_with_a_key_dependent_loss(cfg)
    assert objective.augment.conditions == ("dt", "nu")
    step = objective.step_model(model)
    assert isinstance(step.net, Conditioned) and not np.any(np.asarray(step.net.values))
    assert eqx.filter_eval_shape(step, jnp.zeros((2, 32))).shape == (1, 32)
