"""Notebooks run top to bottom (small sizes)."""

import json

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_burgers_notebook_runs(monkeypatch):
    """Executes every code cell in order, in the notebooks/ directory, as a user would."""
    import matplotlib

    matplotlib.use("Agg")
    nb = json.loads((REPO / "notebooks/burgers_pinn.ipynb").read_text())
    monkeypatch.chdir(REPO / "notebooks")
    monkeypatch.setenv("PDEJAX_NOTEBOOK_STEPS", "100")
    namespace: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "notebook", "exec"), namespace)
    assert namespace["run"].summary["steps"] >= 100
    assert 0 < namespace["run"].summary["rel_l2"] < 1
    assert namespace["loaded"].config.pde.name == "burgers"
