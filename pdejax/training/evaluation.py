"""What the loop evaluates: a family's evaluator, called on the model at evaluation steps."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any


class AbstractEvaluator(abc.ABC):
    """Metrics of a model against a reference (an exact solution, a test set). Subclass this.

    ``__call__`` runs during training (at ``train.eval_every`` and at the end) and
    returns scalars that go into the logs and ``summary.json``; ``report`` runs once at
    the end and may return larger results (curves, zero-shot errors) and write plots.

    ``progress``: an evaluator that loops over many test batches shows a transient bar
    (``None``: only on a terminal; ``False``: never). The caller sets it on the instance,
    as ``pdejax plot --no-progress`` does.
    """

    progress: bool | None = None

    @abc.abstractmethod
    def __call__(self, model: Any) -> dict[str, float]:
        """Scalar metrics of ``model`` (the trained model as the objective sees it)."""

    def report(self, model: Any, directory: Path | None = None) -> dict[str, Any]:
        """Extra results for ``summary.json``; plots into ``directory`` when given."""
        return {}
