"""The documentation site and the public API's docstrings and annotations.

- every public object of every sub-package (``__all__``, or the ``from .x import y as y``
  re-exports of its ``__init__``) has a docstring with a one-line summary (mkdocstrings does
  not flag missing ones);
- every sub-package has an API reference page, every shipped config is on a family page;
- ``mkdocs build --strict`` succeeds (no broken links, no griffe warnings) when the ``docs``
  extra is installed;
- public functions keep their jaxtyping / type annotations at run time: a few of them run under
  jaxtyping's import hook with beartype, as equinox's tests do (when beartype is installed).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import GenericAlias

import pytest

import pdejax
from tests.conftest import REPO

DOCS = REPO / "docs"


def subpackages() -> list[str]:
    """``pdejax`` and every package under it (the shipped configs are data, not code)."""
    found = [m.name for m in pkgutil.walk_packages(pdejax.__path__, "pdejax.") if m.ispkg]
    return ["pdejax", *sorted(n for n in found if n != "pdejax.configs")]


def public_names(module) -> list[str]:
    """``__all__``, else the names an ``__init__`` re-exports as ``from .x import y as y``."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    tree = ast.parse(inspect.getsource(module))
    return [a.asname for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
            for a in node.names if a.asname is not None and a.asname == a.name.rpartition(".")[2]]


def own_docstring(obj) -> str | None:
    doc = obj.__doc__
    if inspect.isclass(obj) and doc is not None and doc.startswith(f"{obj.__name__}("):
        return None  # the signature dataclasses (and so Equinox modules) write when there is none
    return doc


def test_every_public_object_has_a_one_line_summary():
    missing, checked = [], 0
    for package in subpackages():
        module = importlib.import_module(package)
        for name in public_names(module):
            obj = getattr(module, name)
            if not (inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj)) or isinstance(obj, GenericAlias):
                continue  # data (registries, constants) and type aliases (Losses): documented by their module
            checked += 1
            doc = own_docstring(obj)
            if not doc or not doc.strip() or not doc.strip().splitlines()[0].strip():
                missing.append(f"{package}.{name}")
    assert checked > 200  # 242 on 2026-12-01
    assert not missing, f"public objects without a docstring summary: {missing}"


def api_pages() -> dict[str, Path]:
    pages = {}
    for page in (DOCS / "api").glob("*.md"):
        for match in re.finditer(r"^::: (\S+)", page.read_text(), re.M):
            pages[match.group(1)] = page
    return pages


def test_every_subpackage_has_an_api_page_in_the_nav():
    pages = api_pages()
    expected = [*subpackages(), "pdejax.metrics", "pdejax.plots"]
    assert sorted(set(expected) - set(pages)) == []
    nav = (REPO / "mkdocs.yml").read_text()
    assert all(f"api/{page.name}" in nav for page in pages.values())


def test_every_shipped_config_is_on_a_family_page():
    text = "\n".join(p.read_text() for p in (DOCS / "families").glob("*.md"))
    configs = sorted(str(p.relative_to(REPO / "pdejax" / "configs"))
                     for p in (REPO / "pdejax" / "configs").glob("*/*.yaml"))
    assert configs and [c for c in configs if f"`{c}`" not in text] == []


def test_notebooks_are_in_the_site():
    rendered = {p.name for p in (DOCS / "notebooks").glob("*.ipynb")}
    assert rendered == {p.name for p in (REPO / "notebooks").glob("*.ipynb")}
    assert all((DOCS / "notebooks" / n).resolve().is_file() for n in rendered)


def _missing(*modules: str) -> list[str]:
    def absent(name: str) -> bool:
        try:  # a dotted name raises when its parent package is absent
            return importlib.util.find_spec(name) is None
        except ModuleNotFoundError:
            return True

    return [m for m in modules if absent(m)]


@pytest.mark.skipif(bool(_missing("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter")),
                    reason="the docs extra is not installed (pip install -e '.[docs]')")
def test_mkdocs_build_strict(tmp_path):
    # from tmp_path: the build's caches (mkdocs-jupyter's .cache/) stay out of the checkout
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(REPO / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = tmp_path / "site"
    assert (site / "index.html").is_file() and (site / "notebooks" / "burgers_pinn" / "index.html").is_file()
    models = (site / "api" / "models" / "index.html").read_text()
    assert 'id="pdejax.models.FNO"' in models and 'id="pdejax.models.from_nnx"' in models


# Run in a fresh interpreter: the hook decorates modules as they are imported. pdejax.config is
# left out (its pydantic validators take ValidationInfo, a protocol beartype cannot check).
TYPECHECKED = textwrap.dedent("""
    import importlib.util, pkgutil, sys
    from jaxtyping import TypeCheckError, install_import_hook
    path = importlib.util.find_spec("pdejax").submodule_search_locations
    hooked = [f"pdejax.{m.name}" for m in pkgutil.iter_modules(path) if m.name not in ("config", "cli")]
    with install_import_hook(hooked, "beartype.beartype"):
        import pdejax
    import jax, jax.numpy as jnp
    from pdejax import metrics, models, pde
    from pdejax.objectives.operator import data_loss
    key = jax.random.key(0)
    try:
        models.MLP(2, 1, width=8.5, depth=1, key=key)
        raise SystemExit("the hook is not active: MLP(width=8.5) was accepted")
    except TypeCheckError:
        pass
    # jax.eval_shape: the checks run while tracing (shapes and dtypes), nothing is compiled
    def operators(x):
        fno = models.FNO(2, 1, modes=(4,), width=8, n_layers=1, key=key)
        don = models.DeepONet(2, 1, grid=(16,), width=8, depth=1, p=4, key=key)
        pred = models.apply_batch(fno, x)
        return pred, jax.vmap(don)(x), metrics.relative_l2(pred, x[:, :1]), data_loss("rel_l2", pred, x[:, 1:])
    shapes = [o.shape for o in jax.eval_shape(operators, jnp.ones((3, 2, 16)))]
    import numpy as np
    from pdejax import spectral
    for symbol in (np.array([-1.0, -4.0]), jnp.array([-1j, 2j])):  # real (diffusion) and complex (dispersion)
        spectral.ETDRK4(symbol, lambda v, t: v, dt=0.1)
    assert shapes == [(3, 1, 16), (3, 1, 16), (3,), ()], shapes
    try:  # a loss of a single sample (no batch axis) is refused by its annotation
        jax.eval_shape(lambda x: data_loss("mse", x, x), jnp.ones((16,)))
        raise SystemExit("data_loss accepted an array without batch and channel axes")
    except TypeCheckError:
        pass
    ks = pde.PDES.build("kuramoto_sivashinsky", {"length": 60.0}, where="pde")
    grid = pde.grid_for(ks, 64)
    assert jax.eval_shape(lambda: pde.grid_rhs(ks, grid, pde.initial_condition(ks, grid))).shape == (1, 64)
    sys.path.insert(0, sys.argv[1])
    from tests.conftest import tiny_config
    method = pdejax.build(tiny_config()).method
    def pinn_loss(model):
        state = method.source.init(jax.random.key(1), jnp.float32)
        batch, _ = method.source.draw(model, state, jax.random.key(2), jnp.asarray(0))
        return method.objective.loss(model, batch, jax.random.key(3))[0], jax.vmap(model)(jnp.zeros((5, 2)))
    terms, out = jax.eval_shape(pinn_loss, method.model)
    assert set(terms) == set(method.objective.loss_names) and out.shape == (5, 1)
""")


@pytest.mark.skipif(bool(_missing("beartype")), reason="beartype is not installed (pip install -e '.[test]')")
def test_public_functions_under_the_jaxtyping_import_hook():
    """Models, metrics, PDE evaluation on a grid and the Burgers PINN built from its config (pde,
    models, objectives, sampling, training, methods, experiment), every annotation checked by beartype."""
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, "-c", TYPECHECKED, str(REPO)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
