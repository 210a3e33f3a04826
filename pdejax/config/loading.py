"""Load a YAML config, apply ``key.sub=value`` overrides, validate it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError
from .schema import ExperimentConfig


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file; ConfigError for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file", str(path), "an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError("config file", str(path), f"valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError("config file", str(path), "a YAML mapping of sections (pde:, model:, ...)")
    return data


def merge_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``["optimizer.learning_rate=1e-3", ...]`` to ``data`` (values parsed as YAML)."""
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError("override", item, "key.sub=value")
    try:
        base = OmegaConf.create(dict(data))
        merged = OmegaConf.merge(base, OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError("override", " ".join(overrides), f"valid key=value pairs ({err.msg})") from None


def validate(data: Mapping[str, Any]) -> ExperimentConfig:
    """Check a config mapping against the schema; ConfigError names the first bad key."""
    try:
        cfg = ExperimentConfig.model_validate(dict(data))
    except pydantic.ValidationError as err:
        raise ConfigError.from_pydantic(err, root=ExperimentConfig) from None
    objective = cfg.objective.name
    if objective == "pinn" and cfg.pde is None:
        raise ConfigError("pde", None, "a PDE section (pde.name: ...) for objective.name = pinn")
    if objective != "pinn" and cfg.data is None:
        raise ConfigError("data", None, f"a data section (data.path: FILE.h5) for objective.name = {objective}")
    if cfg.objective.physics_weight > 0 and cfg.pde is None:
        raise ConfigError("pde", None, "a PDE section (pde.name: ...) for objective.physics_weight > 0")
    return cfg


def config_data(source: str | Path | Mapping[str, Any] | pydantic.BaseModel,
                overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The raw mapping of a config given as a YAML path (``name`` defaults to the file's
    stem), a mapping or a validated model, with ``key.sub=value`` overrides merged in."""
    if isinstance(source, pydantic.BaseModel):
        data = source.model_dump()
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        data = read_yaml(source)
        data.setdefault("name", Path(source).stem)
    return merge_overrides(data, overrides) if overrides else data


def load_config(source: str | Path | Mapping[str, Any] | ExperimentConfig,
                overrides: Sequence[str] = ()) -> ExperimentConfig:
    """A validated config from a YAML path, a mapping or a config, plus overrides."""
    return validate(config_data(source, overrides))


def to_yaml(config: ExperimentConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
