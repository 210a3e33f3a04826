"""Progress bars: a rate and an ETA on a terminal, nothing anywhere else.

Every long operation (training, data generation, sweeps, evaluation of large test sets,
``pdejax plot``) takes a ``progress`` flag with one meaning: ``False`` shows nothing;
``None`` or ``True`` shows a tqdm bar only when stderr is a terminal, so logs, pipes and
CI output never fill with carriage returns. The command line's ``--no-progress`` passes
``False``.
"""

from __future__ import annotations

from collections.abc import Iterator

from tqdm.auto import tqdm


def disable(progress: bool | None) -> bool | None:
    """tqdm's ``disable`` argument for a ``progress`` flag (``None``: tqdm's own terminal check)."""
    return True if progress is False else None


def batch_starts(n: int, batch_size: int, *, progress: bool | None = None, desc: str = "evaluate",
                 min_batches: int = 8) -> Iterator[int]:
    """``range(0, n, batch_size)``, counted by a transient bar when there are many batches.

    The bar (``leave=False``: it disappears when done) appears only on a terminal, only for
    at least ``min_batches`` batches, and only once the loop has run half a second, so a
    small test set evaluated at every ``eval_every`` never flickers.
    """
    starts = range(0, n, batch_size)
    if progress is False or len(starts) < min_batches:
        yield from starts
        return
    with tqdm(total=len(starts), desc=desc, unit="batch", leave=False, disable=None, delay=0.5,
              dynamic_ncols=True) as bar:
        for start in starts:
            yield start
            bar.update()
