"""A trained neural DE against held-out trajectories: inside and beyond the training window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ...training import AbstractEvaluator


def _relative(err: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(err) / max(np.linalg.norm(ref), 1e-300))


class TrajectoryEvaluator(AbstractEvaluator):
    """Relative L2 errors of test trajectories predicted from their initial states.

    Metrics: ``rel_l2`` over every test observation after the first; ``rel_l2_train_window``
    over the times up to ``t_train`` (index ``k_train``); ``rel_l2_extrapolation`` over the
    later ones (absent when there are none); ``nfe``, the mean vector-field evaluations of
    one test solve. With ``fine`` trajectories and a model that can move to another grid
    (``model.on_grid(grid)``), ``rel_l2_fine``: the same model on the finer grid, zero-shot.
    The report adds the error per observation time (``errors_per_time``) and plots it.

    A hybrid PDE (a model with ``term_values`` and ``without_term``) also gets, with the
    PDE that made the data (``data_pde`` on ``grid``): ``term_rel_l2``, its learned term
    against the true missing term (the data PDE's right-hand side minus the known PDE's,
    on the test states; absent where they agree, as for a closure of the same PDE on a
    coarse grid), ``rel_l2_known_terms_only`` (the known terms alone: the baseline), and
    ``param/<name>`` for trained scalar PDE parameters. The report plots the learned term
    against the truth (as a curve of ``u`` for a term of ``u`` alone).

    Args:
        ts: ``(T,)`` observation times; ``ys``: ``(n, T, *state)`` test trajectories.
        k_train: the index of the last training time.
        batch_size: trajectories per compiled call.
        dtype: the run's dtype.
        fine, fine_grid: the test trajectories on a finer grid (``(n, T, *fine_state)``).
        data_pde, grid: the PDE that generated the data and the grid of ``ys`` (hybrid PDEs).
    """

    def __init__(self, ts: np.ndarray, ys: np.ndarray, k_train: int, batch_size: int, dtype: Any,
                 fine: np.ndarray | None = None, fine_grid: Any = None, data_pde: Any = None, grid: Any = None):
        self.ts, self.ys, self.k_train = np.asarray(ts), np.asarray(ys), k_train
        self.batch_size, self.dtype = batch_size, dtype
        self.fine, self.fine_grid = fine, fine_grid
        self.data_pde, self.grid = data_pde, grid
        self._ts = jnp.asarray(ts, dtype)
        self._solve = eqx.filter_jit(lambda model, y0, ts: jax.vmap(lambda y: model.solve(y, ts))(y0))

    def predict(self, model: Any, ys: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """``(predictions (n, T, *state), mean nfe)`` from the test (or given) initial states."""
        ys = self.ys if ys is None else ys
        preds, nfes = [], []
        for i in range(0, ys.shape[0], self.batch_size):
            pred, stats = self._solve(model, jnp.asarray(ys[i:i + self.batch_size, 0], self.dtype), self._ts)
            preds.append(np.asarray(pred, np.float64))
            nfes.append(np.asarray(stats.get("nfe", np.zeros(pred.shape[0])), np.float64))
        return np.concatenate(preds), float(np.mean(np.concatenate(nfes)))

    def _metrics(self, pred: np.ndarray, ys: np.ndarray) -> dict[str, float]:
        err = pred - ys
        out = {"rel_l2": _relative(err[:, 1:], ys[:, 1:]),
               "rel_l2_train_window": _relative(err[:, 1:self.k_train + 1], ys[:, 1:self.k_train + 1])}
        if self.k_train + 1 < ys.shape[1]:
            out["rel_l2_extrapolation"] = _relative(err[:, self.k_train + 1:], ys[:, self.k_train + 1:])
        return out

    def __call__(self, model: Any) -> dict[str, float]:
        pred, nfe = self.predict(model)
        out = {**self._metrics(pred, self.ys), "nfe": nfe}
        if self.fine is not None and hasattr(model, "on_grid"):
            fine_pred, _ = self.predict(model.on_grid(self.fine_grid), self.fine)
            out["rel_l2_fine"] = _relative(fine_pred[:, 1:] - self.fine[:, 1:], self.fine[:, 1:])
            later = slice(self.k_train + 1, None)
            out["rel_l2_fine_extrapolation"] = _relative(fine_pred[:, later] - self.fine[:, later], self.fine[:, later])
        if hasattr(model, "term_values"):
            out.update(self._hybrid(model))
        return out

    def _term_pairs(self, model: Any, n: int = 4) -> tuple[np.ndarray, np.ndarray] | None:
        """``(learned, true)`` missing terms on the first ``n`` test trajectories' states."""
        if self.data_pde is None or model.term is None:
            return None
        from ...pde import grid_rhs

        states = jnp.asarray(self.ys[:n].reshape(-1, *self.ys.shape[2:]), self.dtype)
        times = jnp.asarray(np.tile(self.ts, min(n, len(self.ys))), self.dtype)
        known = model.applied_pde()

        @eqx.filter_jit
        def pairs(model, states, times):
            def one(u, t):
                true = grid_rhs(self.data_pde, self.grid, u, t) - grid_rhs(known, self.grid, u, t)
                return model.term_values(u, t), true

            return jax.vmap(one)(states, times)

        learned, true = pairs(model, states, times)
        return np.asarray(learned, np.float64), np.asarray(true, np.float64)

    def _hybrid(self, model: Any) -> dict[str, float]:
        out = {}
        found = self._term_pairs(model)
        if found is not None and np.linalg.norm(found[1]) > 1e-8 * max(np.linalg.norm(found[0]), 1.0):
            out["term_rel_l2"] = _relative(found[0] - found[1], found[1])
        if model.term is not None:
            pred, _ = self.predict(model.without_term())
            out["rel_l2_known_terms_only"] = _relative(pred[:, 1:] - self.ys[:, 1:], self.ys[:, 1:])
        if model.parameters is not None:
            out.update({f"param/{k}": float(v) for k, v in model.parameters.scalars().items()})
        return out

    def errors_per_time(self, pred: np.ndarray) -> np.ndarray:
        """``(T,)``: the relative L2 error over the test set at each observation time."""
        axes = tuple(range(2, pred.ndim))
        num = np.sqrt(np.sum((pred - self.ys) ** 2, axis=(0, *axes)))
        return num / np.maximum(np.sqrt(np.sum(self.ys**2, axis=(0, *axes))), 1e-300)

    def report(self, model: Any, directory: Path | None = None) -> dict[str, Any]:
        pred, _ = self.predict(model)
        per_time = self.errors_per_time(pred)
        out = {"errors_per_time": {"t": self.ts.tolist(), "rel_l2": per_time.tolist()},
               "t_train": float(self.ts[self.k_train])}
        if directory is not None:
            from ...plots import plot_rollout_errors, plot_trajectories

            plot_rollout_errors(self.ts[1:], per_time[1:], directory / "errors_per_time.png",
                                title=f"test error (training window ends at t = {self.ts[self.k_train]:g})")
            plot_trajectories(self.ts, pred[0], self.ys[0], directory / "trajectory.png", t_train=self.ts[self.k_train])
            found = self._term_pairs(model) if hasattr(model, "term_values") else None
            if found is not None:
                from ...plots import plot_learned_term

                u = self.ys[:4].reshape(-1, *self.ys.shape[2:])
                single = tuple(model.term.inputs) == (self.data_pde.fields[0],)
                plot_learned_term(found[0][:, 0].ravel(), found[1][:, 0].ravel(), directory / "learned_term.png",
                                  u=u[:, 0].ravel() if single else None)
        return out
