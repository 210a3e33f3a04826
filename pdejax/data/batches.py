"""Host-side batches for training on datasets: deterministic, prefetched, resumable.

The training loop runs several steps per compiled call; a :class:`BatchFeed` hands it
the batches of those steps stacked along a leading axis, ``(n_steps, batch, ...)``,
which the loop shards along the mesh's ``data`` axis. Which samples a step sees is a
pure function of ``(seed, step)``: epoch ``e`` visits the training set in the order of
a permutation drawn from ``(seed, e)``, so a resumed run sees exactly the batches an
uninterrupted one would. While the device runs one call, a background thread reads
the next call's batches (from memory or, for streamed datasets, from the HDF5 file).
The thread makes NumPy arrays only: JAX's x64 setting is thread-local, so the calling
thread, in the run's precision, puts them on the devices.

In a multi-process run each process reads only its rows of every global batch
(``get(step, n, rows=...)``): the batch's indices and its per-sample randomness (where a
trajectory window starts) are drawn for the whole global batch from ``(seed, step)`` and
then sliced, so the global batch is the same whatever the number of processes.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

Fetch = Callable[[np.ndarray, Any], Any]
Draws = Callable[[np.random.Generator, int], Any]


class BatchFeed:
    """Stacked batches for the steps ``[step, step + n)``; see the module docstring.

    Args:
        fetch: ``fetch(indices, rng) -> pytree of NumPy arrays`` with leading axis
            ``len(indices)``; ``rng`` is seeded by the step, for extra per-batch randomness.
            With ``draws``, ``fetch(indices, drawn)`` gets the per-sample draws of its rows instead.
        n_samples: size of the training set.
        batch_size: samples per step (incomplete last batches of an epoch are dropped).
        seed: the run's seed.
        draws: ``draws(rng, batch_size) -> pytree of arrays`` with leading axis ``batch_size``:
            per-sample randomness (e.g. where a trajectory window starts) drawn for the whole
            global batch, so that a process reading only some rows gets the same values for
            them as a single process reading all.

    >>> xs = np.arange(100.0)[:, None]
    >>> feed = BatchFeed(lambda i, rng: {"x": xs[i]}, len(xs), 20, seed=0)
    >>> feed.get(step=0, n=5)["x"].shape        # five steps' batches, stacked
    (5, 20, 1)
    >>> sorted(feed.get(step=0, n=5)["x"].ravel().tolist()) == xs.ravel().tolist()  # one epoch: each sample once
    True
    >>> feed.close()
    """

    def __init__(self, fetch: Fetch, n_samples: int, batch_size: int, seed: int, draws: Draws | None = None):
        if batch_size > n_samples:
            raise ValueError(f"batch_size {batch_size} is larger than the {n_samples} training samples")
        self.fetch, self.n_samples, self.batch_size, self.seed = fetch, n_samples, batch_size, seed
        self.draws = draws
        self.steps_per_epoch = n_samples // batch_size
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._next: tuple[tuple[int, int], concurrent.futures.Future] | None = None

    def indices(self, step: int) -> np.ndarray:
        """The training-set indices of global step ``step``, shape ``(batch_size,)``."""
        epoch, within = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n_samples)
        return order[within * self.batch_size:(within + 1) * self.batch_size]

    def _one(self, step: int, rows: slice) -> Any:
        rng = np.random.default_rng([self.seed, step, 1])
        if self.draws is None:
            return self.fetch(self.indices(step)[rows], rng)
        drawn = jax.tree.map(lambda a: np.asarray(a)[rows], self.draws(rng, self.batch_size))
        return self.fetch(self.indices(step)[rows], drawn)

    def _load(self, step: int, n: int, rows: slice) -> Any:
        batches = [self._one(s, rows) for s in range(step, step + n)]
        return jax.tree.map(lambda *xs: np.stack(xs), *batches)

    def get(self, step: int, n: int, rows: slice | None = None) -> Any:
        """Batches of steps ``step .. step + n - 1``, stacked: leaves ``(n, batch, ...)``.

        ``rows``: only these rows of each global batch (a multi-process run's share of
        it); default all. Starts reading the following ``n`` steps in the background.
        """
        rows = slice(None) if rows is None else rows
        key = (step, n, rows.start, rows.stop)
        if self._next is not None and self._next[0] == key:
            out = self._next[1].result()
        else:
            out = self._load(step, n, rows)
        self._next = ((step + n, n, rows.start, rows.stop), self._pool.submit(self._load, step + n, n, rows))
        return out

    def close(self) -> None:
        """Stop reading ahead; returns once the reading thread has ended.

        Waiting for the one read in flight (a batch) means no thread is left for the
        interpreter to join at exit, where a further Ctrl-C would print a trace.
        Idempotent.
        """
        self._next = None
        self._pool.shutdown(wait=True, cancel_futures=True)


def _is_lazy(views: Any) -> bool:
    from .dataset import LazyArray

    return any(isinstance(a, LazyArray) for a in views.dataset.arrays.values())


def pair_feed(views: Any, batch_size: int, seed: int) -> BatchFeed:
    """Batches ``{"x": (B, c_in, *grid), "y": (B, c_out, *grid)}`` of the training pairs of
    :class:`~pdejax.data.operator_views.OperatorViews` ``views`` (read once into memory,
    or from the file at every step for streamed datasets)."""
    if not _is_lazy(views):
        x, y = views.pairs(views.train_rows)
        fetch = lambda idx, rng: {"x": x[idx], "y": y[idx]}  # noqa: E731
    else:
        rows = views.train_rows
        fetch = lambda idx, rng: dict(zip(("x", "y"), views.pairs(rows[idx])))  # noqa: E731
    return BatchFeed(fetch, len(views.train_rows), batch_size, seed)


def window_feed(views: Any, array: str, length: int, batch_size: int, seed: int,
                window: str = "random") -> BatchFeed:
    """Batches ``{"frames": (B, length, fields, *grid), "t0": (B,)}``: windows of ``length``
    consecutive frames of training trajectories of ``array``, starting at a frame drawn
    from the step's generator (``window="random"``) or at the first frame.

    Raises:
        ValueError: ``length`` is more than the frames stored.
    """
    n_frames = views.dataset.arrays[array].shape[1]
    if length > n_frames:
        raise ValueError(f"history + unroll = {length} is more than the {n_frames} frames stored")
    last_start = n_frames - length
    cache = None if _is_lazy(views) else views.trajectories(array, views.train_rows)

    def draws(rng, size):  # for the whole global batch (then sliced): the same starts in any process
        return rng.integers(0, last_start + 1, size) if window == "random" else np.zeros(size, int)

    def fetch(idx, starts):
        if cache is not None:
            return {"frames": np.stack([cache[i, s:s + length] for i, s in zip(idx, starts)]), "t0": starts}
        trajs = views.trajectories(array, views.train_rows[idx])
        return {"frames": np.stack([trajs[j, s:s + length] for j, s in enumerate(starts)]), "t0": starts}

    return BatchFeed(fetch, len(views.train_rows), batch_size, seed, draws=draws)
