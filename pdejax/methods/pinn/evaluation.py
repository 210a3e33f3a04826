"""A PINN against the PDE's exact solution on a grid: metrics and space-time plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ...pde import PDE
from ...training import AbstractEvaluator


def evaluation_grid(pde: PDE, spec: dict[str, tuple[float, float, int]]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Tensor grid of points from ``{coord: (min, max, n)}`` in the PDE's coordinate order.

    Returns ``(points, shape)``: points of shape ``(prod(n), d)`` ordered with ``'ij'``
    indexing so that values reshape to ``shape``.

    >>> from pdejax.pde import PDES
    >>> points, shape = evaluation_grid(PDES.build("burgers", {}, where="pde"),
    ...                                 {"x": (-1, 1, 5), "t": (0, 1, 3)})
    >>> points.shape, shape
    ((15, 2), (5, 3))
    """
    names = pde.domain.point_names
    missing = [n for n in names if n not in spec]
    if missing:
        raise ValueError(f"evaluation grid needs every coordinate {names}; missing {missing}")
    axes = [np.linspace(*spec[n][:2], int(spec[n][2])) for n in names]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1), tuple(len(a) for a in axes)


class ExactSolutionEvaluator(AbstractEvaluator):
    """Relative L2 and max error of a PINN on a grid against the PDE's exact solution:
    ``rel_l2`` and ``max_abs_error`` over all fields, and for several fields also
    ``rel_l2/<field>`` and ``max_abs_error/<field>``; the report plots each field.

    Args:
        pde: the PDE (its ``exact`` gives the reference, in float64 on the host).
        points: ``(N, dim + 1)`` grid points, ``shape`` the grid's shape.
        dtype: the run's dtype.
    """

    def __init__(self, pde: PDE, points: np.ndarray, shape: tuple[int, ...], dtype: Any):
        self.pde, self.points, self.shape = pde, points, shape
        self.reference = np.asarray(pde.exact(points, pde.params))
        self._points = jnp.asarray(points, dtype)
        self._values = jnp.asarray(self.reference, dtype)
        self._metrics = eqx.filter_jit(self._compute)
        self._predict = eqx.filter_jit(lambda model, pts: jax.vmap(model)(pts))

    def _compute(self, model, points, values):
        err = jax.vmap(model)(points) - values
        out = {"rel_l2": jnp.linalg.norm(err) / jnp.linalg.norm(values), "max_abs_error": jnp.max(jnp.abs(err))}
        if len(self.pde.fields) > 1:  # each field on its own scale, as well as the total
            for i, name in enumerate(self.pde.fields):
                out[f"rel_l2/{name}"] = jnp.linalg.norm(err[:, i]) / jnp.linalg.norm(values[:, i])
                out[f"max_abs_error/{name}"] = jnp.max(jnp.abs(err[:, i]))
        return out

    def __call__(self, model: Any) -> dict[str, float]:
        out = jax.device_get(self._metrics(model, self._points, self._values))
        return {k: float(v) for k, v in out.items()}

    def report(self, model: Any, directory: Path | None = None) -> dict[str, Any]:
        pde = self.pde
        if directory is None or pde.domain.dim != 1 or not pde.evolution:
            return {}
        from ...plots import plot_space_time

        pred = np.asarray(self._predict(model, self._points))
        nx, nt = self.shape
        x = self.points[:, 0].reshape(nx, nt)[:, 0]
        t = self.points[:, 1].reshape(nx, nt)[0]
        for i, name in enumerate(pde.fields):
            plot_space_time(x, t, pred[:, i].reshape(nx, nt), self.reference[:, i].reshape(nx, nt),
                            directory / f"solution_{name}.png", field=name)
        return {}
