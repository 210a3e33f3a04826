"""The data config: what ``pdejax data generate CONFIG [key=value ...]`` reads.

Example (``configs/data/heat.yaml``)::

    name: heat
    seed: 0
    n_samples: 1024
    chunk_size: 64          # samples per compiled call, per progress step, per resume unit
    dtype: float32          # of the stored arrays (the solver's is generator.precision)
    generator:
      name: heat            # see `pdejax data list`
      n_points: 256
      kappa: 0.01
      t_final: 1.0
      dt: 0.001
      save_every: 10
    store_stride: {x: 2}    # keep every 2nd point along x (solve fine, store coarse)
    compression: none       # or gzip (applied once the file is complete)
    imports: [my_generators.py]   # optional: user modules or .py files (relative to this file)

Sample ``i`` is ``generator.sample(fold_in(key(seed), i))`` whatever the chunk size, so
``n_samples`` and ``chunk_size`` change how much is generated, never the samples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import Field, PositiveInt

from ..config.errors import ConfigError
from ..config.loading import config_source
from ..config.plugins import import_extensions, load_entry_points, resolve_imports
from ..config.schema import Named, Section


class GeneratorConfig(Named):
    """``generator.name`` from ``pdejax data list``; other keys are that generator's arguments."""


class DataConfig(Section):
    """A dataset to generate; ``pdejax data generate CONFIG key.sub=value ... --out FILE``.

    Args:
        name: a label (stored in the file; not part of the dataset's identity).
        seed: sample ``i`` uses ``jax.random.fold_in(jax.random.key(seed), i)``.
        n_samples: number of samples (trajectories or input/output pairs).
        chunk_size: samples generated per compiled call; the file records which chunks
            are finished, so an interrupted run resumes at chunk granularity.
        dtype: dtype of the stored floating-point arrays.
        generator: the registered generator and its arguments.
        store_stride: ``{axis: stride}`` keeping every ``stride``-th entry along a named
            axis (``x``, ``y``, ``t``...) of every stored array and coordinate, e.g. FNO
            Burgers solved on 8192 points and stored on 1024 with ``{x: 8}``.
        compression: ``gzip`` rewrites the finished file with compressed datasets
            chunked along samples; ``none`` leaves it contiguous (fastest to read).
        imports: user modules (``my_lab.generators``) or ``.py`` files imported before
            ``generator.name`` is looked up; :func:`load_data_config` makes file paths
            absolute (relative ones are relative to the config file). Not part of the
            file's identity.
    """

    name: str = "dataset"
    seed: int = Field(0, ge=0, lt=2**32)  # JAX keeps 32 bits of a seed unless x64 is on
    n_samples: PositiveInt
    chunk_size: PositiveInt = 64
    dtype: Literal["float32", "float64"] = "float32"
    generator: GeneratorConfig
    store_stride: dict[str, PositiveInt] = Field(default_factory=dict)
    compression: Literal["none", "gzip"] = "none"
    imports: list[str] = Field(default_factory=list)

    @property
    def n_chunks(self) -> int:
        return -(-self.n_samples // self.chunk_size)

    def chunk(self, index: int) -> range:
        """Sample indices of chunk ``index``."""
        start = index * self.chunk_size
        return range(start, min(start + self.chunk_size, self.n_samples))


def validate_data_config(data: Mapping[str, Any]) -> DataConfig:
    """Check a data config mapping; ConfigError names the first bad key."""
    try:
        return DataConfig.model_validate(dict(data))
    except pydantic.ValidationError as err:
        raise ConfigError.from_pydantic(err, root=DataConfig) from None


def load_data_config(source: str | Path | Mapping[str, Any] | DataConfig,
                     overrides: Sequence[str] = ()) -> DataConfig:
    """A validated data config from a YAML path, a mapping or a config, plus overrides.

    A path may also name a shipped config (``data/heat.yaml``, see
    :func:`pdejax.config.paths.find_config`); ``name`` defaults to the YAML file's stem.
    Installed ``pdejax.plugins`` entry points and the modules and files of ``imports``
    are imported first (file paths relative to the YAML file's directory, or the cwd for
    a mapping); the config holds those paths absolute.
    """
    data, config_dir = config_source(source, overrides)
    imports = data.get("imports") or []
    if not isinstance(imports, list) or not all(isinstance(s, str) for s in imports):
        raise ConfigError("imports", imports, "a list of module names or .py file paths")
    load_entry_points()
    import_extensions(imports, config_dir)
    data["imports"] = resolve_imports(imports, config_dir)
    return validate_data_config(data)


def config_json(config: DataConfig) -> str:
    """The resolved config as canonical JSON (sorted keys): what a file records."""
    return json.dumps(config.model_dump(mode="json"), sort_keys=True)


def identity(config: DataConfig) -> dict[str, Any]:
    """The keys that determine a file's contents, flattened to ``{"generator.dt": 0.01, ...}``.

    Everything but ``name`` and ``imports``: two configs with equal identities make the same file.
    """
    return _flatten({k: v for k, v in config.model_dump(mode="json").items()
                     if k not in ("name", "imports")})


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out
