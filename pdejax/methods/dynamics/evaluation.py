"""A trained neural DE against held-out trajectories: inside and beyond the training window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..._progress import batch_starts
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
    ``param/<name>`` for trained scalar PDE parameters (with ``param_rel_error/<name>`` against
    the data PDE's value). The report plots the learned term
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
        for i in batch_starts(ys.shape[0], self.batch_size, progress=self.progress, desc="solve"):
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
            for k, v in model.parameters.scalars().items():
                out[f"param/{k}"] = float(v)
                truth = self.data_pde.params.get(k) if self.data_pde is not None else None
                if isinstance(truth, int | float) and truth != 0:  # the value that made the data
                    out[f"param_rel_error/{k}"] = abs(float(v) - truth) / abs(truth)
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


class LatentEvaluator(TrajectoryEvaluator):
    """A latent ODE on held-out series: encoded from their (masked, irregular) observations up
    to ``t_train``, decoded at every observation time (posterior mean). ``rel_l2_train_window``
    is then interpolation (the unobserved times included), ``rel_l2_extrapolation`` beyond.

    Args:
        mask: ``(n, T, *state)`` the test series' observed entries (``TrajectoryEvaluator``'s
            other arguments as there).
    """

    def __init__(self, ts, ys, k_train, batch_size, dtype, mask: np.ndarray):
        super().__init__(ts, ys, k_train, batch_size, dtype)
        self.mask = np.asarray(mask, bool)
        k = k_train + 1
        self._predict_latent = eqx.filter_jit(lambda model, ys, mask, ts: jax.vmap(
            lambda y, m: model.predict(ts[:k], y, m, ts))(ys, mask))

    def predict(self, model: Any, ys: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        k = self.k_train + 1
        preds = [np.asarray(self._predict_latent(model, jnp.asarray(self.ys[i:i + self.batch_size, :k], self.dtype),
                                                 jnp.asarray(self.mask[i:i + self.batch_size, :k]), self._ts),
                            np.float64)
                 for i in batch_starts(self.ys.shape[0], self.batch_size, progress=self.progress, desc="solve")]
        return np.concatenate(preds), float("nan")

    def __call__(self, model: Any) -> dict[str, float]:
        pred, _ = self.predict(model)
        return self._metrics(pred, self.ys)


class SDEEvaluator(AbstractEvaluator):
    """An SDE's ensemble against the test ensemble: ``paths`` model paths from the test
    paths' initial states (cycled), compared by the marginal mean and standard deviation at
    each observation time, each as an RMS over time relative to the data's RMS standard
    deviation: ``mean_error`` / ``std_error`` over the training window and
    ``..._extrapolation`` beyond it. With an Ornstein–Uhlenbeck truth (``truth`` holding
    ``theta``, ``mu``, ``sigma``): ``drift_rel_l2`` and ``diffusion_rel_l2``, the learned
    functions against ``θ(μ − y)`` and ``σ`` on ``μ ± 3`` stationary standard deviations at
    the start time, and ``theta``/``sigma`` read off the learned functions (least-squares
    slope of the drift, mean diffusion). The report plots the learned functions.
    """

    def __init__(self, ts, ys, k_train: int, dtype, truth: dict[str, Any], paths: int = 1024, seed: int = 0):
        self.ts, self.ys, self.k_train, self.dtype = np.asarray(ts), np.asarray(ys), k_train, dtype
        self.truth, self.paths, self.seed = truth, paths, seed
        self._ts = jnp.asarray(ts, dtype)
        starts = np.resize(np.asarray(ys[:, 0]), (paths, *ys.shape[2:]))
        self._starts = jnp.asarray(starts, dtype)
        self._ensemble = eqx.filter_jit(lambda model, y0, ts, keys: jax.vmap(
            lambda y, k: model.solve(y, ts, key=k)[0])(y0, keys))

    def _moments(self, model):
        keys = jax.random.split(jax.random.PRNGKey(self.seed), self.paths)
        sim = np.asarray(self._ensemble(model, self._starts, self._ts, keys), np.float64)
        return sim.mean(0), sim.std(0, ddof=1), self.ys.mean(0), self.ys.std(0, ddof=1)

    def _ou(self):
        if not {"theta", "mu", "sigma"} <= set(self.truth):
            return None
        theta, mu, sigma = (self.truth[k] for k in ("theta", "mu", "sigma"))
        spread = 3 * sigma / np.sqrt(2 * theta)
        y = np.linspace(mu - spread, mu + spread, 101)
        return y, theta * (mu - y), np.full_like(y, sigma)

    def _learned(self, model, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = jnp.asarray(self.ts[0], self.dtype)
        pts = jnp.asarray(y[:, None], self.dtype)
        drift = np.asarray(jax.vmap(lambda p: model.drift_value(t0, p))(pts), np.float64)[:, 0]
        diffusion = np.asarray(jax.vmap(lambda p: model.diffusion_value(t0, p))(pts), np.float64)[:, 0]
        return drift, diffusion

    def __call__(self, model: Any) -> dict[str, float]:
        m_sim, s_sim, m_data, s_data = self._moments(model)
        scale = np.sqrt(np.mean(s_data[1:] ** 2))
        out = {}
        for suffix, part in (("", slice(1, self.k_train + 1)), ("_extrapolation", slice(self.k_train + 1, None))):
            if part.start >= len(self.ts):
                continue
            out[f"mean_error{suffix}"] = float(np.sqrt(np.mean((m_sim[part] - m_data[part]) ** 2)) / scale)
            out[f"std_error{suffix}"] = float(np.sqrt(np.mean((s_sim[part] - s_data[part]) ** 2)) / scale)
        ou = self._ou()
        if ou is not None and model.state_shape == (1,):
            y, drift_true, diffusion_true = ou
            drift, diffusion = self._learned(model, y)
            out["drift_rel_l2"] = float(np.linalg.norm(drift - drift_true) / np.linalg.norm(drift_true))
            out["diffusion_rel_l2"] = float(np.linalg.norm(diffusion - diffusion_true) / np.linalg.norm(diffusion_true))
            out["theta"] = float(-np.polyfit(y, drift, 1)[0])
            out["sigma"] = float(np.mean(diffusion))
        return out

    def report(self, model: Any, directory: Path | None = None) -> dict[str, Any]:
        ou = self._ou()
        if directory is None or ou is None or model.state_shape != (1,):
            return {}
        import matplotlib.pyplot as plt

        y, drift_true, diffusion_true = ou
        drift, diffusion = self._learned(model, y)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        for ax, learned, true, name in ((axes[0], drift, drift_true, "drift"),
                                        (axes[1], diffusion, diffusion_true, "diffusion")):
            ax.plot(y, true, "k-", lw=2, label="true")
            ax.plot(y, learned, "C3--", lw=1.5, label="learned")
            ax.set(xlabel="y", title=name)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        directory.mkdir(parents=True, exist_ok=True)
        fig.savefig(directory / "drift_diffusion.png", dpi=120)
        plt.close(fig)
        return {"ou_truth": dict(self.truth)}
