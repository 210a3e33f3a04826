"""User extensions: import a user's modules and installed plug-ins before names are resolved.

A user's PDE, model, sampler, generator or method family registers itself when its module
is imported (``@PDES.register("my_kdv")``). Three ways bring such a module in, and every
command sees the result:

- a config's ``imports:`` list and the command line's ``--import``: dotted module names
  (``my_lab.pdes``) or paths to ``.py`` files (``pdes/my_kdv.py``), see :func:`import_extensions`;
- installed packages, through the ``pdejax.plugins`` entry-point group
  (``[project.entry-points."pdejax.plugins"] my_lab = "my_lab.pdejax_plugin"``), see
  :func:`load_entry_points`.

Each file and module is executed at most once per process: registries refuse a second,
different function under a name they already hold, so importing twice must be a no-op.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
import types
from collections.abc import Sequence
from pathlib import Path

from .errors import ConfigError

ENTRY_POINT_GROUP = "pdejax.plugins"

_loaded_entry_points: set[tuple[str, str, str]] = set()  # (group, name, value) already loaded


def is_file_spec(spec: str) -> bool:
    """Whether an import spec names a ``.py`` file rather than a dotted module."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def resolve_imports(specs: Sequence[str], base_dir: str | Path | None = None) -> list[str]:
    """``specs`` with file paths made absolute against ``base_dir`` (default: the cwd).

    Module names are returned unchanged. A run stores these, so its ``config.yaml``
    imports the same files from any directory.
    """
    base = Path.cwd() if base_dir is None else Path(base_dir)
    return [str((base / Path(s).expanduser()).resolve()) if is_file_spec(s) else s for s in specs]


def module_name_for(path: Path) -> str:
    """The stable ``sys.modules`` name of a user file: ``pdejax_user_<stem>_<hash of its path>``."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    stem = re.sub(r"\W", "_", path.stem)
    return f"pdejax_user_{stem}_{digest}"


def import_extensions(specs: Sequence[str], base_dir: str | Path | None = None, *,
                      where: str = "imports") -> list[types.ModuleType]:
    """Import each module name or ``.py`` file of ``specs``; the modules, in order.

    Args:
        specs: dotted module names (imported with :func:`importlib.import_module`, so the
            package must be on ``sys.path``) or paths to ``.py`` files (relative ones
            resolve against ``base_dir``). A file is imported as module
            :func:`module_name_for` of its resolved path.
        base_dir: directory that relative file paths resolve against; default the cwd
            (a config's ``imports:`` pass the config file's directory).
        where: the key or option named in errors (``imports``, ``--import``).

    Raises:
        ConfigError: naming ``where`` and the spec, for a missing file, a module that is
            not found, or an exception raised while importing (its type and message).

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "my_ext.py").write_text("GREETING = 'registered'")
    >>> [m.GREETING for m in import_extensions(["my_ext.py"], base_dir=folder)]
    ['registered']
    >>> import_extensions(["my_ext.py"], base_dir=folder)[0] is import_extensions([str(folder / "my_ext.py")])[0]
    True
    """
    base = Path.cwd() if base_dir is None else Path(base_dir)
    return [_import_file(spec, base, where) if is_file_spec(spec) else _import_module(spec, where)
            for spec in specs]


def _import_module(name: str, where: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if name == missing or name.startswith(missing + "."):  # the module itself, not one it imports
            raise ConfigError(where, name, "an importable module on sys.path, or a path to a .py file "
                              f"(no module named {missing!r})") from None
        raise _raised(where, name, err) from None
    except Exception as err:
        raise _raised(where, name, err) from None


def _import_file(spec: str, base: Path, where: str) -> types.ModuleType:
    path = (base / Path(spec).expanduser()).resolve()
    if not path.is_file():
        raise ConfigError(where, spec, f"an existing .py file or an importable module ({path} does not exist)")
    name = module_name_for(path)
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(where, spec, f"a Python source file ({path} cannot be imported)")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # before executing: dataclasses and pickling look themselves up
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise _raised(where, spec, err) from None
    return module


def _raised(where: str, spec: str, err: BaseException) -> ConfigError:
    return ConfigError(where, spec, f"an importable module (importing it raised {type(err).__name__}: {err})")


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load the installed plug-ins of ``group``; the names of those loaded by this call.

    An entry point's object may be a module (importing it registers its entries) or a
    callable, called once with no arguments. Each entry point is loaded once per process.

    Raises:
        ConfigError: naming the entry point (``pdejax.plugins:NAME``) if loading or
            calling it raises.
    """
    loaded = []
    for ep in importlib.metadata.entry_points(group=group):
        ident = (group, ep.name, ep.value)
        if ident in _loaded_entry_points:
            continue
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, types.ModuleType):
                obj()
        except Exception as err:
            raise ConfigError(f"entry point {group}:{ep.name}", ep.value,
                              f"an importable plug-in (loading it raised {type(err).__name__}: {err})") from None
        _loaded_entry_points.add(ident)
        loaded.append(ep.name)
    return loaded
