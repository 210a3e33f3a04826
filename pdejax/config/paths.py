"""Where configs and data live, so that an installed pdejax works from any directory.

- Shipped configs are package data, ``pdejax/configs/<group>/<name>.yaml``; commands that
  take a config accept either a file path or a shipped name (``pinn/burgers.yaml``), see
  :func:`find_config`. ``pdejax configs`` lists them and ``pdejax configs copy`` copies one
  out for editing.
- Relative dataset paths in configs (``data.path: burgers.h5``) resolve against the data
  root, ``$PDEJAX_DATA`` or ``~/.cache/pdejax/data`` (``$XDG_CACHE_HOME/pdejax/data``),
  never against the current directory, see :func:`resolve_data_path`.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

from .errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[1] / "configs"


def shipped_configs() -> list[str]:
    """Names of the shipped configs, ``group/name.yaml``, sorted."""
    return sorted(p.relative_to(SHIPPED).as_posix() for p in SHIPPED.glob("*/*.yaml"))


def describe_configs() -> dict[str, str]:
    """``{name: summary}`` of the shipped configs: each file's first comment line, else its ``name:``."""
    out = {}
    for name in shipped_configs():
        lines = (SHIPPED / name).read_text().splitlines()
        comments = [ln.lstrip("#").strip() for ln in lines if ln.startswith("#")]
        names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("name:")]
        out[name] = next((c for c in comments if c), names[0] if names else "")
    return out


def _shipped(path: str | Path) -> Path | None:
    """The shipped config ``path`` names (``pinn/burgers``, ``configs/pinn/burgers.yaml``...), if any."""
    text = Path(path).as_posix()
    if Path(path).is_absolute():
        return None
    text = text.removeprefix("./").removeprefix("configs/")
    for candidate in (text, text + ".yaml"):
        file = SHIPPED / candidate
        if file.is_file() and file.resolve().is_relative_to(SHIPPED):
            return file
    return None


def _shipped_hint(path: str | Path) -> str:
    names = shipped_configs()
    close = difflib.get_close_matches(Path(path).as_posix().removeprefix("configs/"), names, n=1)
    listed = ", ".join(names[:3])
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"pdejax configs lists them: {listed}, ...{hint}"


def find_config(path: str | Path, *, where: str = "config file") -> Path:
    """The absolute path of a config given as a file path or as a shipped config's name.

    An existing file wins; otherwise ``pinn/burgers.yaml``, ``pinn/burgers`` and
    ``configs/pinn/burgers.yaml`` all name the shipped ``pdejax/configs/pinn/burgers.yaml``.

    Raises:
        ConfigError: naming ``where`` and ``path`` when it is neither a file nor shipped.
    """
    file = Path(path).expanduser()
    if file.is_file():
        return file.absolute()
    shipped = _shipped(path)
    if shipped is not None:
        return shipped
    raise ConfigError(where, str(path), "an existing YAML file or the name of a shipped config, and it is neither "
                      f"({_shipped_hint(path)})")


def copy_config(name: str, dest: str | Path) -> Path:
    """Copy the shipped config ``name`` to ``dest``; the new file's path.

    ``dest`` is a directory (an existing one, one ending in ``/``, or a new path without a
    suffix) to copy into under the config's own file name, or a file path. An existing file
    is never overwritten.

    Raises:
        ConfigError: for a name that is not shipped, or a destination that exists.
    """
    source = _shipped(name)
    if source is None:
        raise ConfigError("config", name, f"the name of a shipped config ({_shipped_hint(name)})")
    dest = Path(dest).expanduser()
    as_dir = dest.is_dir() or str(dest).endswith(("/", os.sep)) or (not dest.exists() and not dest.suffix)
    target = dest / source.name if as_dir else dest
    if target.exists():
        raise ConfigError("destination", str(target), "a path that does not exist yet (configs copy never "
                          "overwrites a file)")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target.absolute()


def data_root() -> Path:
    """Where relative dataset paths resolve: ``$PDEJAX_DATA``, else ``$XDG_CACHE_HOME/pdejax/data``,
    else ``~/.cache/pdejax/data``. Not created here."""
    if os.environ.get("PDEJAX_DATA"):
        return Path(os.environ["PDEJAX_DATA"]).expanduser().absolute()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return (base / "pdejax" / "data").absolute()


def resolve_data_path(value: str | Path) -> Path:
    """A dataset path from a config: absolute kept, relative under :func:`data_root` (never the cwd)."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else data_root() / path


def resolve_config_relative(value: str | Path, base_dir: Path | None) -> Path:
    """A path written in a config (a base config, an imported file...), made absolute.

    Absolute paths are kept. A relative one is ``base_dir / value`` if that exists, else the
    shipped config it names (as :func:`find_config`), else ``base_dir / value`` anyway (the
    caller reports it missing). Without ``base_dir`` the cwd stands in for it.
    """
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    local = ((Path.cwd() if base_dir is None else Path(base_dir)) / path).absolute()
    if local.exists():
        return local
    return _shipped(value) or local
