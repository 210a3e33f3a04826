"""What every plot shares: matplotlib's non-interactive backend, selected before pyplot is
imported (plots are files in a run's directory, drawn where there may be no display), and
the way a figure is written. The plotting modules take ``plt`` from here, so the backend is
chosen whichever of them is imported first."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, path: str | Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (120 dpi, parent directories created), close it."""
    path = Path(path)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
