"""The dataset file of an operator experiment, generated first when the config says how."""

from __future__ import annotations

import contextlib
from pathlib import Path

import jax

from ...config.errors import ConfigError
from ...config.schema import DataConfig


def dataset_path(data: DataConfig) -> Path:
    """``data.path`` (absolute after validation); generated from ``data.generate`` when missing.

    Generation runs in float64 inside this call only (``jax.enable_x64``) where the data
    config asks for it. Directories created for the file are removed again if generation
    fails, so a failed run leaves nothing behind but a resumable partial file.
    """
    path = Path(data.path)
    if path.exists():
        return path
    if data.generate is None:
        raise ConfigError("data.path", data.path, "an existing dataset file (or set data.generate to a data "
                          "config to make it: pdejax data generate CONFIG --out FILE)")
    from ...data import generate, load_data_config

    data_config = load_data_config(data.generate, data.generate_overrides)
    print(f"pdejax: {path} does not exist; generating it from {data.generate} "
          f"{' '.join(data.generate_overrides)}".rstrip())
    created = [p for p in reversed(path.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        want64 = data_config.generator.args.get("precision") == "float64"
        with jax.enable_x64(True) if want64 else contextlib.nullcontext():
            generate(data_config, path)
    except BaseException:
        for directory in reversed(created):
            try:
                directory.rmdir()  # only if empty: a partial file stays, and resumes next time
            except OSError:
                break
        raise
    return path
