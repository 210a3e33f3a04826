"""User extensions in every command (``--import``, ``imports:``, entry points) and shipped configs.

Registries are process-global, so each test registers its PDE or generator under a fresh name.
"""

from __future__ import annotations

import sys
import uuid

import numpy as np
import pytest
import yaml

from pdejax.cli import main
from pdejax.config.errors import ConfigError
from pdejax.config.paths import (
    SHIPPED,
    copy_config,
    data_root,
    find_config,
    resolve_config_relative,
    resolve_data_path,
    shipped_configs,
)
from pdejax.config.plugins import import_extensions, load_entry_points, module_name_for, resolve_imports

# README, "Writing your own PDE", with the name left open.
PDE_SOURCE = '''
import jax.numpy as jnp
from pdejax.pde import PDE, PDES, Box, Periodic

@PDES.register("{name}")
def my_kdv(c: float = 2.0) -> PDE:
    """Korteweg-de Vries u_t + 6 u u_x + u_xxx = 0."""
    return PDE(
        name="{name}", fields=("u",), domain=Box(x=(-10.0, 10.0), t=(0.0, 1.0)),
        params={{"c": c}},
        linear={{"u": {{"u_xxx": -1.0}}}},
        nonlinear=lambda f, p: {{"u": -6 * f.u * f.u_x}},
        initial=lambda x, p: {{"u": p["c"] / 2 / jnp.cosh(jnp.sqrt(p["c"]) / 2 * x[0]) ** 2}},
        boundary=Periodic(),
    )
'''


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write_pde(directory, name: str, filename: str = "my_pde.py"):
    path = directory / filename
    path.write_text(PDE_SOURCE.format(name=name))
    return path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("pdejax: error:") and err.count("\n") == 1, err
    return err


def test_list_sees_a_pde_from_a_file(tmp_path, monkeypatch, capsys):
    name = unique("kdv")
    (tmp_path / "pdes").mkdir()
    write_pde(tmp_path / "pdes", name)
    monkeypatch.chdir(tmp_path)  # relative --import paths resolve against the cwd
    assert main(["list", "--import", "pdes/my_pde.py"]) == 0
    out = capsys.readouterr().out
    assert f"  {name}" in out and "Korteweg-de Vries" in out


@pytest.mark.slow
def test_check_a_pde_from_a_file(tmp_path, capsys):
    name = unique("kdv")
    path = write_pde(tmp_path, name)
    assert main(["check", name, "--import", str(path)]) == 0
    out = capsys.readouterr().out
    assert f'"pde": "{name}"' in out and '"ok": true' in out and '"dtype": "float64"' in out
    import jax

    assert not jax.config.jax_enable_x64  # the check's float64 did not leak into the process


def test_check_sees_a_pde_only_after_import(tmp_path, capsys):
    name = unique("kdv")
    write_pde(tmp_path, name)
    assert main(["check", name]) == 2
    assert f"pde.name = '{name}' is invalid" in one_line_error(capsys)


@pytest.mark.parametrize("spec, message", [
    ("missing.py", "--import = 'missing.py' is invalid: expected an existing .py file"),
    ("no_such_module_xyz", "--import = 'no_such_module_xyz' is invalid: expected an importable module on sys.path"),
    ("boom.py", "--import = 'boom.py' is invalid: expected an importable module (importing it raised "
                "NameError: name 'undefined_name' is not defined)"),
    ("needs_missing.py", "importing it raised ModuleNotFoundError: No module named 'not_installed_dep'"),
])
@pytest.mark.parametrize("command", [["list"], ["data", "list"], ["eval", "run"]])
def test_bad_import_exits_2_naming_it(tmp_path, monkeypatch, capsys, spec, message, command):
    (tmp_path / "boom.py").write_text("undefined_name\n")
    (tmp_path / "needs_missing.py").write_text("import not_installed_dep\n")
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--import", spec]) == 2
    assert message in one_line_error(capsys)
    assert not any(m.startswith("pdejax_user_boom_") for m in sys.modules)  # a failed import is not kept


def test_importing_a_file_twice_is_a_no_op(tmp_path, monkeypatch):
    name = unique("kdv")
    path = write_pde(tmp_path, name)
    (first,) = import_extensions([str(path)])
    monkeypatch.chdir(tmp_path)  # the same file by another spelling: still one module, run once
    again = import_extensions(["my_pde.py", f"../{tmp_path.name}/my_pde.py"], base_dir=tmp_path)
    assert again == [first, first]
    assert first.__name__ == module_name_for(path.resolve()) and first.__name__.startswith("pdejax_user_my_pde_")
    assert sys.modules[first.__name__] is first


def test_module_names_import_from_sys_path(tmp_path, monkeypatch, capsys):
    package, name = unique("lab"), unique("kdv")
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    write_pde(tmp_path / package, name, "pdes.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    (module,) = import_extensions([f"{package}.pdes"])
    assert module.__name__ == f"{package}.pdes"
    assert main(["list", "--import", f"{package}.pdes"]) == 0  # already imported: a no-op
    assert name in capsys.readouterr().out
    with pytest.raises(ConfigError, match=rf"imports = '{package}.missing' is invalid"):
        import_extensions([f"{package}.missing"])


def test_resolve_imports_makes_files_absolute(tmp_path):
    specs = ["my_lab.pdes", "pdes/a.py", str(tmp_path / "b.py")]
    assert resolve_imports(specs, tmp_path) == ["my_lab.pdes", str(tmp_path / "pdes" / "a.py"), str(tmp_path / "b.py")]


def _dist_info(directory, dist: str, entry_points: str) -> None:
    info = directory / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[pdejax.plugins]\n{entry_points}\n")


def test_entry_points_load_once(tmp_path, monkeypatch, capsys):
    dist, module, name = unique("plug"), unique("plug_mod"), unique("kdv")
    write_pde(tmp_path, name, f"{module}.py")
    (tmp_path / f"{module}_hook.py").write_text(f"calls = []\ndef register():\n    import {module}\n"
                                                "    calls.append(1)\n")
    _dist_info(tmp_path, dist, f"{dist} = {module}_hook:register")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert dist in load_entry_points()
    assert dist not in load_entry_points()  # once per process
    assert main(["list"]) == 0 and name in capsys.readouterr().out
    assert sys.modules[f"{module}_hook"].calls == [1]


def test_a_broken_entry_point_is_named(tmp_path, monkeypatch, capsys):
    dist = unique("broken")
    _dist_info(tmp_path, dist, f"{dist} = {dist}_missing_module")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["list"]) == 2
    err = one_line_error(capsys)
    assert f"entry point pdejax.plugins:{dist} = '{dist}_missing_module' is invalid" in err
    assert "ModuleNotFoundError" in err


@pytest.mark.slow
def test_train_with_a_pde_from_a_file(tmp_path, tiny, monkeypatch, capsys):
    name = unique("heat")
    (tmp_path / "my_heat.py").write_text(
        "from pdejax.pde import PDES\n"
        f"@PDES.register('{name}')\n"
        "def my_burgers(nu: float = 0.01 / 3.141592653589793):\n"
        "    '''Burgers under another name.'''\n"
        "    return PDES.build('burgers', {'nu': nu}, where='pde')\n")
    cfg = tiny(pde={"name": name}, train={"steps": 20, "steps_per_call": 10, "log_every": 10, "eval_every": 10,
                                          "checkpoint_every": 10})
    cfg.pop("evaluation", None)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    rc = main(["train", "cfg.yaml", "--import", "my_heat.py", "--run-dir", "run", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    stored = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert str(tmp_path / "my_heat.py") in stored.get("imports", [])


# -- data configs -------------------------------------------------------------------------

GENERATOR_SOURCE = '''
from pdejax.data import GENERATORS

@GENERATORS.register("{name}")
def small_heat(n_points: int = 32, precision: str = "float32"):
    """The heat generator, small."""
    return GENERATORS.get("heat", where="generator")(n_points=n_points, t_final=0.1, save_every=5,
                                                     precision=precision)
'''


@pytest.fixture
def user_generator(tmp_path):
    """A data config in ``tmp/configs/`` whose generator is defined in ``tmp/configs/gen.py``."""
    name = unique("small_heat")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "gen.py").write_text(GENERATOR_SOURCE.format(name=name))
    cfg = {"n_samples": 3, "chunk_size": 2, "imports": ["gen.py"], "generator": {"name": name}}
    (tmp_path / "configs" / "small.yaml").write_text(yaml.safe_dump(cfg))
    return name, tmp_path / "configs" / "small.yaml"


def test_data_config_imports_relative_to_the_config(user_generator, tmp_path, monkeypatch):
    from pdejax.data.config import identity, load_data_config

    name, path = user_generator
    monkeypatch.chdir(tmp_path.parent)
    config = load_data_config(path.relative_to(tmp_path.parent))
    assert config.imports == [str(path.parent / "gen.py")] and config.generator.name == name
    assert "imports" not in identity(config)
    assert load_data_config(config) == config  # the stored absolute path imports again as a no-op
    with pytest.raises(ConfigError, match="imports = 3 is invalid: expected a list of module names"):
        load_data_config(path, ["imports=3"])


def test_data_generate_with_a_user_generator(user_generator, tmp_path, monkeypatch, capsys):
    from pdejax.data import load_dataset

    name, path = user_generator
    monkeypatch.chdir(tmp_path)
    assert main(["data", "list", "--import", "configs/gen.py"]) == 0
    assert f"  {name}" in capsys.readouterr().out
    args = ["data", "generate", "configs/small.yaml", "--out", "small.h5", "--no-progress"]
    assert main([*args, "generator.precision=float64"]) == 0, capsys.readouterr().err
    data = load_dataset(tmp_path / "small.h5")
    assert data.tensor.shape == (3, 3, 32) and data.tensor.dtype == np.float32  # stored dtype: float32
    import jax

    assert not jax.config.jax_enable_x64  # the solver's float64 was scoped to the command


# -- shipped configs and paths ------------------------------------------------------------

def test_configs_lists_and_copies(tmp_path, capsys):
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("pinn/burgers.yaml ") and "Burgers" in line for line in out.splitlines())
    assert main(["configs", "list"]) == 0 and capsys.readouterr().out == out
    assert {"pinn/burgers.yaml", "operator/fno_burgers.yaml", "data/heat.yaml"} <= set(shipped_configs())

    assert main(["configs", "copy", "pinn/burgers.yaml", str(tmp_path)]) == 0
    copied = tmp_path / "burgers.yaml"
    assert capsys.readouterr().out.strip() == str(copied)
    assert copied.read_text() == (SHIPPED / "pinn" / "burgers.yaml").read_text()
    assert main(["configs", "copy", "pinn/burgers.yaml", str(tmp_path)]) == 2
    assert "destination = " in one_line_error(capsys)
    assert main(["configs", "copy", "pinn/nope.yaml", str(tmp_path)]) == 2
    assert "config = 'pinn/nope.yaml' is invalid" in one_line_error(capsys)
    assert copy_config("operator/fno_burgers", tmp_path / "mine.yaml") == tmp_path / "mine.yaml"
    assert copy_config("data/heat.yaml", tmp_path / "new" / "dir") == tmp_path / "new" / "dir" / "heat.yaml"


def test_find_config_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = SHIPPED / "pinn" / "burgers.yaml"
    for spelling in ("pinn/burgers.yaml", "pinn/burgers", "configs/pinn/burgers.yaml"):
        assert find_config(spelling) == shipped
    (tmp_path / "pinn").mkdir()
    (tmp_path / "pinn" / "burgers.yaml").write_text("name: mine\n")
    assert find_config("pinn/burgers.yaml") == tmp_path / "pinn" / "burgers.yaml"  # a local file wins
    with pytest.raises(ConfigError, match="config file = 'pinn/burger.yaml' is invalid: .* it is neither") as err:
        find_config("pinn/burger.yaml")
    assert "did you mean 'pinn/burgers.yaml'" in str(err.value)


def test_data_generate_takes_a_shipped_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no configs/ here: the shipped one is found by name
    assert main(["data", "generate", "data/heat.yaml", "--out", "x.h5", "n_samples=0"]) == 2
    assert "n_samples = 0 is invalid" in one_line_error(capsys)


def test_data_root_and_paths(tmp_path, monkeypatch):
    monkeypatch.delenv("PDEJAX_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "pdejax" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "pdejax" / "data"
    monkeypatch.setenv("PDEJAX_DATA", str(tmp_path / "data"))
    assert data_root() == tmp_path / "data" and not data_root().exists()
    monkeypatch.chdir(tmp_path / "..")
    assert resolve_data_path("burgers.h5") == tmp_path / "data" / "burgers.h5"
    assert resolve_data_path(tmp_path / "x.h5") == tmp_path / "x.h5"

    (tmp_path / "base.yaml").write_text("name: base\n")
    assert resolve_config_relative("base.yaml", tmp_path) == tmp_path / "base.yaml"
    assert resolve_config_relative("pinn/burgers.yaml", tmp_path) == SHIPPED / "pinn" / "burgers.yaml"
    assert resolve_config_relative("gone.yaml", tmp_path) == tmp_path / "gone.yaml"
    assert resolve_config_relative(tmp_path / "abs.yaml", None) == tmp_path / "abs.yaml"
