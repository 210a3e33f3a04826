"""``objective.physics: spectral | grid``: operators trained from the PDE alone, on inputs only.

``spectral`` is the Neural Spectral Method (Du et al. 2024): the ``model`` runs on the
collocation nodes of a Fourier (periodic axes) × Chebyshev (time) basis — or, for a steady
problem with a constant ``Dirichlet`` boundary, a Chebyshev basis on every axis with the
boundary value built in (``u = g + ∏(1 - x̂_i²) v``) — its values are read as coefficients,
and the loss is the PDE residual computed in coefficient space
(:class:`~pdejax.objectives.operator.SpectralObjective`). ``grid`` trains the same model,
with the same constraints, on a grid with the PINO residual
(:class:`~pdejax.objectives.operator.GridObjective`): uniform and FFT derivatives, or the
Chebyshev–Lobatto nodes and collocation derivatives. The two configs differ in that one key.
A Dirichlet problem's data are stored on the Chebyshev–Lobatto nodes of each axis
(``pdejax.data`` generator ``poisson_dirichlet``).

Data: ``data.input`` names the inputs — for an evolution problem the first frame of the
trajectory array (the initial condition, built into the solution), other arrays replace the
PDE parameters of the same names (a ``source``); ``data.output`` is the reference, read only
by the evaluator. Everything a routine cannot honour is refused here with a ConfigError.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ...config.errors import ConfigError
from ...config.schema import ExperimentConfig
from ...data import load_dataset
from ...data.batches import BatchFeed
from ...data.operator_views import OperatorViews
from ...objectives.operator import GridObjective, SpectralObjective, SpectralResidual, fourier_inputs
from ...objectives.operator.boundary_lift import DirichletLift
from ...objectives.operator.nsm_inputs import chebyshev_inputs
from ...pde import PDE, Dirichlet, Periodic
from ...spectral import ChebyshevSeries, FourierSeries, TensorBasis
from ..family import Context, Method
from .datafile import dataset_path
from .evaluation import PairEvaluator

DEFAULT_TIME_SIZE = 16


def build_from_pde(cfg: ExperimentConfig, ctx: Context) -> Method:
    """The ``operator`` family with ``objective.physics: spectral`` or ``grid`` (see the module docstring)."""
    obj, data_cfg = cfg.objective, cfg.data
    where = f"for objective.physics: {obj.physics}"
    pde = _check_settings(cfg, ctx, where)
    ctx.divisible("data.batch_size", data_cfg.batch_size)
    if data_cfg.batch_size > data_cfg.n_train:
        raise ConfigError("data.batch_size", data_cfg.batch_size, f"at most data.n_train = {data_cfg.n_train}")
    dataset = load_dataset(dataset_path(data_cfg), lazy=False)
    views = OperatorViews(dataset, data_cfg.input, data_cfg.output, data_cfg.n_train, data_cfg.n_test, data_cfg.stride)
    _check_grid(pde, views)
    initial, params = _inputs(pde, views, data_cfg.input, data_cfg.output)
    grid = views.grid_shape()
    dom = pde.domain
    lift = None
    if isinstance(pde.boundary, Periodic):
        inputs = fourier_inputs(dom.lower, dom.lengths, grid, dom.coords, initial, params)
    else:
        inputs = chebyshev_inputs(dom.lower, dom.upper, grid, dom.coords, initial, params)
        lift = DirichletLift(float(pde.boundary.value), dom.coords, dom.lower, dom.upper)
    points = _output_points(pde, views, data_cfg.output)
    zero_mean = _zero_mean(pde)
    scale = obj.residual.output_scale
    if obj.physics == "spectral":
        net = _basis(pde, obj.residual.sizes, grid)
        sol = net.resized({"t": net.sizes[0] + 1}) if initial else net
        sol = lift.basis(sol) if lift is not None else sol
        try:
            residual = SpectralResidual(pde, sol, obj.residual.dealias, obj.residual.norm == "chebyshev", inputs.space)
        except ValueError as err:
            raise ConfigError("pde", pde.name, f"a definition the coefficient-space residual can express: {err}"
                              ) from None
        objective = SpectralObjective(residual, net, inputs, scale, zero_mean, points, lift)
        model_grid = net.sizes
    else:
        train_points = _grid_points(pde, obj.residual.grid, views, points)
        objective = GridObjective(pde, inputs, train_points, points, scale, zero_mean, lift)
        model_grid = tuple(len(p) for p in train_points)
    model = _model(cfg, ctx, inputs.channels, len(pde.evolving), model_grid)
    x_train = views.read(data_cfg.input, views.train_rows)  # the inputs only: never the solutions
    feed = BatchFeed(lambda idx, rng: {"x": x_train[idx]}, len(views.train_rows), data_cfg.batch_size, cfg.seed)
    evaluator = PairEvaluator(objective, views, cfg.evaluation.batch_size)
    return Method(model, objective, feed, evaluator, physical=objective.physical,
                  weights={"physics": float(obj.physics_weight)})


def _check_settings(cfg: ExperimentConfig, ctx: Context, where: str) -> PDE:
    obj = cfg.objective
    pde = ctx.require_pde(where)
    if cfg.data is None:
        raise ConfigError("data", None, f"a data section (data.path: FILE.h5, data.input: the inputs) {where}")
    if not obj.physics_weight > 0:
        raise ConfigError("objective.physics_weight", obj.physics_weight, f"> 0 {where} (the residual is the "
                          "only loss term)")
    if cfg.data.normalize != "none":
        raise ConfigError("data.normalize", cfg.data.normalize, f"none {where} (inputs enter the PDE in its units)")
    if cfg.data.stride:
        raise ConfigError("data.stride", dict(cfg.data.stride), f"no stride {where} (inputs are read on the "
                          "stored grid)")
    if cfg.lbfgs.steps:
        raise ConfigError("lbfgs.steps", cfg.lbfgs.steps, f"0 {where}")
    if cfg.precision != "default":
        raise ConfigError("precision", cfg.precision, f"default {where}")
    if ctx.space_devices > 1:
        raise ConfigError("parallel.space", ctx.space_devices, f"1 {where}")
    if cfg.evaluation.superresolution:
        raise ConfigError("evaluation.superresolution", list(cfg.evaluation.superresolution),
                          f"[] {where} (the operator is evaluated on the data grid)")
    valid = ("a periodic PDE (Fourier series in space, Chebyshev along t), or a steady one with a constant "
             "Dirichlet boundary (Chebyshev series in space, the value built in)")
    if type(pde.boundary) not in (Periodic, Dirichlet):  # DirichletData, Neumann, mixed...
        raise ConfigError("pde", pde.name, f"{valid} {where}; {pde.name!r} has boundary "
                          f"{type(pde.boundary).__name__}")
    if isinstance(pde.boundary, Dirichlet) and pde.evolution:
        raise ConfigError("pde", pde.name, f"{valid} {where}; {pde.name!r} is an evolution problem with a "
                          "Dirichlet boundary (not supported: no lift compatible with the initial condition)")
    if pde.second_order:
        raise ConfigError("pde", pde.name, f"a PDE first order in time {where}; {pde.name!r} has second_order "
                          f"fields {pde.second_order}")
    return pde


def _check_grid(pde: PDE, views: OperatorViews) -> None:
    """The stored grid must be the PDE's periodic box (``x_j = lower + L j / n``), or for a
    Dirichlet PDE the Chebyshev–Lobatto nodes of its box (ascending, both ends included)."""
    if views.spatial != pde.domain.coords:
        raise ConfigError("pde", pde.name, f"a PDE on the data's axes {views.spatial} (it has {pde.domain.coords})")
    dom, periodic = pde.domain, isinstance(pde.boundary, Periodic)
    for axis, coord, lo, hi in zip(views.spatial, views.coordinates(), dom.lower, dom.upper):
        n, length = len(coord), hi - lo
        expected = (lo + length * np.arange(n) / n if periodic
                    else lo + length * (1 - np.cos(np.pi * np.arange(n) / max(n - 1, 1))) / 2)
        if n < 3 or not np.allclose(coord, expected, atol=1e-6 * length):
            kind = (f"a periodic domain [{lo:g}, {hi:g}) whose uniform nodes lower + L j / n" if periodic else
                    f"a Dirichlet domain [{lo:g}, {hi:g}] whose {n} Chebyshev–Lobatto nodes")
            raise ConfigError("pde", pde.name, f"{kind} are the data's {axis}-coordinate (it holds {coord[0]:g}, "
                              f"{coord[1]:g}, ... {coord[-1]:g}: {n} points; {pde.name!r} has boundary "
                              f"{type(pde.boundary).__name__})")


def _inputs(pde: PDE, views: OperatorViews, inputs: dict, outputs: dict) -> tuple[int, list[str]]:
    """``(channels of the initial condition, PDE parameters fed by the other input arrays)``."""
    initial, params = 0, []
    for name, frames in inputs.items():
        key = f"data.input.{name}"
        if pde.evolution and name in outputs:
            if frames is None or list(frames) != [0] or initial:
                raise ConfigError(key, frames, "[0]: the initial frame, imposed in the solution")
            t0 = views.times[0] if views.times is not None else None
            if t0 is None or not math.isclose(float(t0), pde.domain.time[0], abs_tol=1e-9):
                raise ConfigError(key, frames, f"the frame at t = {pde.domain.time[0]} (the PDE's start); the "
                                  f"data's first frame is at t = {t0}")
            initial = views.channels({name: [0]})
            if initial != len(pde.evolving):
                raise ConfigError(key, frames, f"one channel per evolving field {pde.evolving}; it has {initial}")
            continue
        if name not in pde.params or views.channels({name: frames}) != 1:
            valid = [p for p in pde.params if not callable(pde.params[p])]
            hint = " or the trajectory array's frame 0" if pde.evolution else ""
            raise ConfigError(key, frames, f"one field named after a parameter of {pde.name!r}: "
                              f"{', '.join(valid) or 'none'}{hint}")
        params.append(name)
    if pde.evolution and not initial:
        raise ConfigError("data.input", dict(inputs), "the initial frame of the trajectory array, e.g. "
                          "{tensor: [0]} (an evolution problem needs its initial condition)")
    return initial, params


def _output_points(pde: PDE, views: OperatorViews, outputs: dict) -> tuple[tuple[float, ...], ...]:
    """The reference's coordinates: its frames' times (evolution), then the spatial grid."""
    if len(outputs) != 1:
        raise ConfigError("data.output", dict(outputs), "one array: the reference solution")
    (name, frames), = outputs.items()
    if views.channels({name: [0]} if views.times is not None else {name: None}) != len(pde.evolving):
        raise ConfigError(f"data.output.{name}", frames, f"the reference of the evolving fields {pde.evolving}")
    space = tuple(tuple(float(v) for v in c) for c in views.coordinates())
    if not pde.evolution:
        return space
    times = np.asarray(views.times)
    chosen = times if frames is None else times[list(frames)]
    t0, t1 = pde.domain.time
    if chosen.min() < t0 - 1e-9 or chosen.max() > t1 + 1e-9:
        raise ConfigError(f"data.output.{name}", frames, f"frames within the PDE's time interval [{t0}, {t1}]")
    return (tuple(float(t) for t in chosen),) + space


def _zero_mean(pde: PDE) -> bool:
    """A steady periodic problem whose linear part kills constants: its mean is set to 0."""
    if pde.evolution or not isinstance(pde.boundary, Periodic):
        return False
    zero_order = [d for terms in pde.linear.values() for d in terms if d in pde.fields]
    return not zero_order and pde.nonlinear is None and pde.flux is None


def _axes(pde: PDE, sizes: dict[str, int], key: str) -> tuple[str, ...]:
    """The PDE's axes (``t`` first for an evolution equation); ConfigError at ``key.AXIS`` for another name."""
    coords = (("t",) if pde.evolution else ()) + pde.domain.coords
    unknown = sorted(set(sizes) - set(coords))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", sizes[unknown[0]], f"an axis of {pde.name!r}: {', '.join(coords)}")
    return coords


def _basis(pde: PDE, sizes: dict[str, int], grid: tuple[int, ...]) -> TensorBasis:
    """The model's collocation basis: Chebyshev in time, Fourier in space (odd sizes); Chebyshev in
    space for a Dirichlet PDE (default: two fewer than the data's nodes, so that the lifted
    solution has as many polynomials as the data's interpolant)."""
    coords = _axes(pde, sizes, "objective.residual.sizes")
    series = []
    for c in coords:
        key = f"objective.residual.sizes.{c}"
        if c == "t":
            n = sizes.get("t", DEFAULT_TIME_SIZE)
            if n < 2:
                raise ConfigError(key, n, "at least 2 Chebyshev polynomials in time")
            series.append(ChebyshevSeries(*pde.domain.time, n))
            continue
        i = pde.domain.coords.index(c)
        if not isinstance(pde.boundary, Periodic):
            n = sizes.get(c, max(grid[i] - 2, 2))
            if n < 2:
                raise ConfigError(key, n, "at least 2 Chebyshev polynomials (the solution has 2 more: the "
                                  "boundary factor)")
            series.append(ChebyshevSeries(pde.domain.lower[i], pde.domain.upper[i], n))
            continue
        default = grid[i] if grid[i] % 2 else grid[i] - 1
        n = sizes.get(c, default)
        if n % 2 == 0 or n < 3:
            raise ConfigError(key, n, "an odd number >= 3 of Fourier functions (an even grid's Nyquist mode has no "
                              "exact derivative)")
        series.append(FourierSeries(pde.domain.lower[i], pde.domain.lengths[i], n))
    return TensorBasis(coords, tuple(series))


def _grid_points(pde: PDE, sizes: dict[str, int], views: OperatorViews,
                 points: tuple[tuple[float, ...], ...]) -> tuple[tuple[float, ...], ...]:
    """The training grid of ``physics: grid``: uniform frames over the PDE's time interval, periodic
    nodes (or the Chebyshev–Lobatto nodes of a Dirichlet PDE's box)."""
    coords = _axes(pde, sizes, "objective.residual.grid")
    out = []
    for c in coords:
        if c == "t":
            t0, t1 = pde.domain.time
            n = sizes.get("t", len(points[0]))
            if n < 2:
                raise ConfigError("objective.residual.grid.t", n, "at least 2 frames")
            out.append(tuple(float(v) for v in np.linspace(t0, t1, n)))
            continue
        i = pde.domain.coords.index(c)
        n = sizes.get(c, views.grid_shape()[i])
        if n < 3:
            raise ConfigError(f"objective.residual.grid.{c}", n, "at least 3 points")
        lo, length = pde.domain.lower[i], pde.domain.lengths[i]
        nodes = (lo + length * np.arange(n) / n if isinstance(pde.boundary, Periodic)
                 else ChebyshevSeries(lo, pde.domain.upper[i], n).nodes())
        out.append(tuple(float(v) for v in nodes))
    return tuple(out)


def _model(cfg: ExperimentConfig, ctx: Context, in_size: int, out_size: int, grid: tuple[int, ...]) -> Any:
    model = ctx.build_model(cfg, in_size, out_size)
    example = jax.ShapeDtypeStruct((in_size, *grid), ctx.dtype)
    try:
        out = eqx.filter_eval_shape(model, example)
    except (ValueError, TypeError) as err:
        raise ConfigError("model", cfg.model.name, f"a model accepting one sample of shape {example.shape} "
                          f"(channels, *collocation grid) for objective.physics: {cfg.objective.physics}: {err}"
                          ) from None
    if out.shape != (out_size, *grid):
        raise ConfigError("model", cfg.model.name, f"a model returning {(out_size, *grid)}; it returns {out.shape}")
    return model
