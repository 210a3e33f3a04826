"""A PINN against a reference solution on a grid, and its recovered PDE parameters: metrics and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ...pde import PDE, FieldParameter
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
    ``rel_l2/<field>`` and ``max_abs_error/<field>``; with ``objective.time_embedding``
    also ``time_frequency`` (the learned ω); the report plots each field.

    Args:
        pde: the PDE (its ``exact`` gives the reference, in float64 on the host).
        points: ``(N, dim + 1)`` grid points, ``shape`` the grid's shape.
        dtype: the run's dtype.
        reference: ``(N, n_fields)`` reference values at ``points`` instead of the exact
            solution (e.g. a spectral solver's, for a PDE without one); ``nan`` where a
            value is not known (a table of some fields at some points): the errors are
            taken over the known values, and per field only for fields with some.
    """

    def __init__(self, pde: PDE, points: np.ndarray, shape: tuple[int, ...], dtype: Any,
                 reference: np.ndarray | None = None):
        self.pde, self.points, self.shape = pde, points, shape
        self.reference = np.asarray(pde.exact(points, pde.params) if reference is None else reference)
        self._points = jnp.asarray(points, dtype)
        self._values = jnp.asarray(self.reference, dtype)
        self._fields = tuple(i for i in range(len(pde.fields)) if np.isfinite(self.reference[:, i]).any())
        self._metrics = eqx.filter_jit(self._compute)
        self._predict = eqx.filter_jit(lambda model, pts: jax.vmap(model)(pts))

    def _compute(self, model, points, values):
        known = jnp.isfinite(values)
        values = jnp.where(known, values, 0)
        err = jnp.where(known, jax.vmap(model)(points) - values, 0)
        out = {"rel_l2": jnp.linalg.norm(err) / jnp.linalg.norm(values), "max_abs_error": jnp.max(jnp.abs(err))}
        if len(self.pde.fields) > 1:  # each field on its own scale, as well as the total
            for i in self._fields:
                name = self.pde.fields[i]
                out[f"rel_l2/{name}"] = jnp.linalg.norm(err[:, i]) / jnp.linalg.norm(values[:, i])
                out[f"max_abs_error/{name}"] = jnp.max(jnp.abs(err[:, i]))
        if getattr(model, "time_frequency", None) is not None:  # objective.time_embedding's learned ω
            out["time_frequency"] = model.time_frequency
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


class ParameterEvaluator(AbstractEvaluator):
    """Recovered PDE parameters (inverse problems) against the values the ``pde`` section
    states (the truth that generated observations come from), plus a solution evaluator's metrics.

    Metrics: ``param/<name>`` (the recovered value) and ``param_rel_error/<name>`` for a
    scalar (``param_abs_error/<name>`` where the stated value is 0); ``param_rel_l2/<name>``
    for a coefficient field, on a grid of the spatial box. The report adds
    ``parameters``: ``{name: {value, reference, rel_error, init, transform}}`` (a field:
    ``rel_l2`` and the recovered and reference values on the grid, plotted in 1D as
    ``plots/parameter_<name>.png``).

    Args:
        pde: the PDE as configured (its ``params`` are the reference values).
        inits: ``{name: initial value}`` as configured (``None``: the PDE's value).
        solution: an evaluator of the solution (e.g. :class:`ExactSolutionEvaluator`), or ``None``.
        dtype: the run's dtype.
    """

    def __init__(self, pde: PDE, inits: dict[str, float | None], solution: AbstractEvaluator | None, dtype: Any):
        self.pde, self.inits, self.solution = pde, dict(inits), solution
        n = {1: 201, 2: 65}.get(pde.domain.dim, 17)
        axes = [np.linspace(lo, hi, n) for lo, hi in zip(pde.domain.lower, pde.domain.upper)]
        self.coords = [m.ravel() for m in np.meshgrid(*axes, indexing="ij")]
        self._coords = [jnp.asarray(c, dtype) for c in self.coords]
        self._field = eqx.filter_jit(lambda field, coords: field(*coords))

    def _reference(self, name: str) -> Any:
        value = self.pde.params[name]
        if callable(value):
            with jax.enable_x64(True):
                return np.asarray(value(*[jnp.asarray(c, jnp.float64) for c in self.coords]), np.float64)
        return float(value)

    def parameters(self, model: Any) -> dict[str, dict[str, Any]]:
        """``{name: {...}}``: each trainable parameter's recovered value and its error."""
        out = {}
        for name, entry in model.parameters.entries.items():
            reference = self._reference(name)
            row: dict[str, Any] = {"init": self.inits.get(name), "transform": entry.transform}
            if isinstance(entry, FieldParameter):
                value = np.asarray(self._field(entry, self._coords), np.float64)
                row.update(rel_l2=float(np.linalg.norm(value - reference) / np.linalg.norm(reference)),
                           coords={c: x.tolist() for c, x in zip(self.pde.domain.coords, self.coords)},
                           value=value.tolist(), reference=reference.tolist())
            else:
                value = float(entry.value())
                row.update(value=value, reference=reference)
                if reference != 0:
                    row["rel_error"] = abs(value - reference) / abs(reference)
                else:
                    row["abs_error"] = abs(value)
            out[name] = row
        return out

    def __call__(self, model: Any) -> dict[str, float]:
        metrics = self.solution(model) if self.solution is not None else {}
        for name, row in self.parameters(model).items():
            if "rel_l2" in row:
                metrics[f"param_rel_l2/{name}"] = row["rel_l2"]
                continue
            metrics[f"param/{name}"] = row["value"]
            if "rel_error" in row:
                metrics[f"param_rel_error/{name}"] = row["rel_error"]
            else:
                metrics[f"param_abs_error/{name}"] = row["abs_error"]
        return metrics

    def report(self, model: Any, directory: Path | None = None) -> dict[str, Any]:
        out = dict(self.solution.report(model, directory)) if self.solution is not None else {}
        parameters = self.parameters(model)
        if directory is not None and self.pde.domain.dim == 1:
            for name, row in parameters.items():
                if "rel_l2" in row:
                    _plot_field(self.coords[0], np.asarray(row["value"]), np.asarray(row["reference"]),
                                directory / f"parameter_{name}.png", name, self.pde.domain.coords[0])
        return {**out, "parameters": parameters}


def _plot_field(x: np.ndarray, value: np.ndarray, reference: np.ndarray, path: Path, name: str, coord: str) -> None:
    """A recovered coefficient field against its reference, over one coordinate."""
    import matplotlib.pyplot as plt

    from ... import plots  # noqa: F401  (selects the non-interactive backend)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(x, reference, "k-", lw=1.5, label="reference")
    ax.plot(x, value, "r--", lw=1.5, label="recovered")
    rel = np.linalg.norm(value - reference) / np.linalg.norm(reference)
    ax.set(xlabel=coord, ylabel=name, title=f"{name}({coord}): rel. L2 error {rel:.2e}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
