"""Load a YAML config, apply ``key.sub=value`` overrides, import its extensions, validate it.

The order matters: a config's ``imports`` (and ``--import`` on the command line, and
installed ``pdejax.plugins`` entry points) are imported before anything is validated, so
a user's PDE, model or method family is known when its name is looked up. Relative paths
resolve against the config file's directory (``imports``, ``data.generate``) or the data
root (``data.path``); the validated config holds them absolute, so its ``config.yaml``
runs from any directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError
from .paths import find_config
from .plugins import import_extensions, load_entry_points, resolve_imports
from .registry import suggest
from .schema import DEFAULT_OBJECTIVE, OBJECTIVES, ExperimentConfig, experiment_schema


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file; ConfigError for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file", str(path), "an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError("config file", str(path), f"a UTF-8 text file (byte {err.start} is not UTF-8; "
                          "a binary file?)") from None
    except yaml.YAMLError as err:
        raise ConfigError("config file", str(path), f"valid YAML ({yaml_problem(err)})") from None
    if not isinstance(data, dict):
        raise ConfigError("config file", str(path), "a YAML mapping of sections (pde:, model:, ...)")
    return data


def yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error in one line: the problem and where (PyYAML's own text spans lines)."""
    problem = getattr(err, "problem", None) or getattr(err, "context", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def merge_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``["optimizer.learning_rate=1e-3", ...]`` to ``data`` (values parsed as YAML).

    >>> merge_overrides({"train": {"steps": 10}}, ["train.steps=20", "seed=3"])
    {'train': {'steps': 20}, 'seed': 3}
    """
    for item in overrides:
        _check_override(item)
    try:
        base = OmegaConf.create(dict(data))
        merged = OmegaConf.merge(base, OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_container(merged, resolve=True)
    except (OmegaConfBaseException, yaml.YAMLError, ValueError, TypeError) as err:
        reason = (getattr(err, "msg", None) or str(err) or type(err).__name__).strip().splitlines()[0]
        raise ConfigError("override", " ".join(overrides), f"valid key=value pairs ({reason})") from None


_KEY_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$|^[0-9]+$")


def _check_override(item: str) -> None:
    """One ``key.sub=value``: a dotted key of names, and a value that parses as YAML."""
    if "=" not in item or item.startswith("="):
        raise ConfigError("override", item, "key.sub=value")
    key, value = item.split("=", 1)
    if not all(_KEY_PART.match(part) for part in key.split(".")):
        raise ConfigError("override", item, "a dotted key of names (key.sub=value)")
    glued = re.compile(r"([{,]\s*[A-Za-z_][\w-]*):(?=\S)")  # {tensor:[25]}: a key glued to its value
    if glued.search(value):
        spaced = glued.sub(r"\1: ", value)
        raise ConfigError("override", item, "a value that parses as YAML: flow mappings need a space after "
                          f"each key's colon, e.g. {key}={spaced}")
    try:
        yaml.safe_load(value)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError("override", item, f"a value that parses as YAML ({problem})") from None


def validate(data: Mapping[str, Any], *, config_dir: str | Path | None = None,
             resolve_data: bool = True) -> ExperimentConfig:
    """Check a config mapping against the schema of every registered family.

    ``config_dir`` resolves relative config paths (``data.generate``); relative data
    paths resolve against the data root unless ``resolve_data`` is false.
    ConfigError names the first bad key.
    """
    data = dict(data)
    objective = data.get("objective")
    objective = {} if objective is None else objective
    if not isinstance(objective, Mapping):
        raise ConfigError("objective", objective, "a mapping with a name (objective.name: pinn)")
    name = objective.get("name", DEFAULT_OBJECTIVE)
    if not isinstance(name, str) or name not in OBJECTIVES:
        raise ConfigError("objective.name", name,
                          f"a registered method family: {suggest(str(name), sorted(OBJECTIVES))}")
    data["objective"] = {**objective, "name": name}
    schema = experiment_schema()
    context = {"config_dir": Path(config_dir) if config_dir is not None else None, "resolve_data": resolve_data}
    if config_dir is None:
        del context["config_dir"]
    try:
        return schema.model_validate(data, context=context)
    except pydantic.ValidationError as err:
        first = dict(err.errors()[0])
        loc = list(first["loc"])
        if loc[:2] == ["objective", name]:  # the union's tag: report objective.<key>
            first["loc"] = tuple(loc[2:])
            raise ConfigError.from_pydantic(err, prefix="objective", root=OBJECTIVES[name], error=first) from None
        raise ConfigError.from_pydantic(err, root=schema, error=first) from None


def config_data(source: str | Path | Mapping[str, Any] | pydantic.BaseModel,
                overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The raw mapping of a config given as a YAML path (or a shipped config's name;
    ``name`` defaults to the file's stem), a mapping or a validated model, with
    ``key.sub=value`` overrides merged in."""
    data, _ = config_source(source, overrides)
    return data


def config_source(source: str | Path | Mapping[str, Any] | pydantic.BaseModel,
                  overrides: Sequence[str] = ()) -> tuple[dict[str, Any], Path | None]:
    """``(raw mapping with overrides, directory of the config file or None)``."""
    config_dir = None
    if isinstance(source, pydantic.BaseModel):
        data = source.model_dump()
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        path = find_config(source)
        data = read_yaml(path)
        data.setdefault("name", path.stem)
        config_dir = path.parent
    return (merge_overrides(data, overrides) if overrides else data), config_dir


def load_config(source: str | Path | Mapping[str, Any] | ExperimentConfig, overrides: Sequence[str] = (), *,
                imports: Sequence[str] = ()) -> ExperimentConfig:
    """A validated config from a YAML path, a mapping or a config, plus overrides.

    Before validation, installed ``pdejax.plugins`` entry points, ``imports`` (module
    names or ``.py`` files relative to the current directory, as ``--import`` gives
    them) and the config's own ``imports:`` (relative to the config file) are imported;
    all of them are recorded, absolute, in the returned config's ``imports``.
    """
    data, config_dir = config_source(source, overrides)
    own = data.get("imports") or []
    if not isinstance(own, list) or not all(isinstance(s, str) for s in own):
        raise ConfigError("imports", own, "a list of module names or .py file paths")
    load_entry_points()
    import_extensions(list(imports), None, where="--import")
    import_extensions(own, config_dir, where="imports")
    recorded = resolve_imports(own, config_dir) + resolve_imports(list(imports), None)
    data["imports"] = list(dict.fromkeys(recorded))
    return validate(data, config_dir=config_dir)


def to_yaml(config: ExperimentConfig) -> str:
    """The config as YAML that :func:`load_config` reads back to an equal config.

    Values are dumped as JSON types (paths as strings, tuples as lists), but mapping
    keys keep their type: pydantic's JSON mode would turn ``boundaries_and_scales:
    {10: 0.5}`` into ``'10': 0.5``, which optax cannot use.

    >>> from pdejax.config.loading import load_config
    >>> cfg = load_config({"pde": {"name": "burgers"}, "model": {"name": "mlp"}, "optimizer": {
    ...     "learning_rate": {"name": "piecewise_constant_schedule", "init_value": 1e-3,
    ...                       "boundaries_and_scales": {10: 0.5}}}})
    >>> "10: 0.5" in to_yaml(cfg)
    True
    """
    return yaml.safe_dump(_typed_keys(config.model_dump(), config.model_dump(mode="json")), sort_keys=False)


def _typed_keys(python: Any, json_ready: Any) -> Any:
    """``json_ready`` with the int, float and bool mapping keys of ``python`` restored."""
    if isinstance(python, Mapping) and isinstance(json_ready, Mapping) and len(python) == len(json_ready):
        return {(k if isinstance(k, (int, float, bool)) else j): _typed_keys(python[k], json_ready[j])
                for k, j in zip(python, json_ready)}
    if isinstance(python, (list, tuple)) and isinstance(json_ready, list) and len(python) == len(json_ready):
        return [_typed_keys(p, j) for p, j in zip(python, json_ready)]
    return json_ready
