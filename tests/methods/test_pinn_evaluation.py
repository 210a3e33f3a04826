"""The PINN evaluator: total and per-field errors against the exact solution, one plot per field."""

import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.methods.pinn import ExactSolutionEvaluator, evaluation_grid
from pdejax.pde import PDE, Box, Periodic


def two_waves() -> PDE:
    """u_t = -u_x, v_t = 0.1 v_xx: two decoupled fields with exact solutions of different sizes."""
    def exact(points, p):
        x, t = points[:, :1], points[:, 1:]
        return np.concatenate([np.sin(2 * np.pi * (x - t)), 10 * np.exp(-0.1 * (2 * np.pi) ** 2 * t)
                               * np.cos(2 * np.pi * x)], axis=1)

    return PDE(name="two_waves", fields=("u", "v"), domain=Box(x=(0.0, 1.0), t=(0.0, 0.5)),
               linear={"u": {"u_x": -1.0}, "v": {"v_xx": 0.1}},
               initial=lambda x, p: {"u": jnp.sin(2 * jnp.pi * x[0]), "v": 10 * jnp.cos(2 * jnp.pi * x[0])},
               boundary=Periodic(), exact=exact)


def test_per_field_errors_and_plots(tmp_path, x64):
    pde = two_waves()
    points, shape = evaluation_grid(pde, {"x": (0, 1, 17), "t": (0, 0.5, 5)})
    evaluator = ExactSolutionEvaluator(pde, points, shape, jnp.float64)
    reference = pde.exact(points, pde.params)
    offset = np.array([0.05, 0.05])  # the same absolute error on u (scale 1) and v (scale up to 10)

    model = lambda point: jnp.concatenate([jnp.sin(2 * jnp.pi * (point[:1] - point[1:])),  # noqa: E731
                                           10 * jnp.exp(-0.1 * (2 * jnp.pi) ** 2 * point[1:])
                                           * jnp.cos(2 * jnp.pi * point[:1])]) + offset
    metrics = evaluator(model)
    err = np.broadcast_to(offset, reference.shape)
    for i, name in enumerate(pde.fields):
        assert metrics[f"rel_l2/{name}"] == pytest.approx(np.linalg.norm(err[:, i]) / np.linalg.norm(reference[:, i]))
        assert metrics[f"max_abs_error/{name}"] == pytest.approx(offset[i])
    assert metrics["rel_l2"] == pytest.approx(np.linalg.norm(err) / np.linalg.norm(reference))
    assert metrics["rel_l2/u"] > 2 * metrics["rel_l2"]  # the total, dominated by v's scale, hides u's error
    evaluator.report(model, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"solution_u.png", "solution_v.png"}
