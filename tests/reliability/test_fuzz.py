"""A property-based config fuzzer (issue 11, item 9): random overrides of every key.

Every key of the experiment schema (every method family's ``objective`` keys included)
and every argument of the registered models, PDEs and the optimizer gets random values:
numbers (nan and inf too), booleans, strings, lists, mappings, and raw text that may not
parse as YAML. Validating and building the experiment (in-process, nothing compiled)
either succeeds or raises a ConfigError of one line; never another exception. A refused
config leaves no run directory behind.

Not fuzzed: ``imports`` (it imports whatever module it names) and ``data.generate``
(it would generate data sets).
"""

from __future__ import annotations

import copy
import inspect
import itertools
import typing

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pdejax
from pdejax.config.errors import ConfigError
from pdejax.config.schema import OBJECTIVES, experiment_schema
from pdejax.data import generate
from pdejax.models import MODELS
from pdejax.pde import PDES
from pdejax.training import OPTIMIZERS
from tests.conftest import tiny_config
from tests.data.conftest import tiny_heat

NOT_FUZZED = {"imports", "data.generate", "data.generate_overrides"}


def _model_of(annotation) -> type[pydantic.BaseModel] | None:
    for a in (annotation, *typing.get_args(annotation)):
        if isinstance(a, type) and issubclass(a, pydantic.BaseModel):
            return a
    return None


def schema_keys(model: type[pydantic.BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key of a pydantic config model, nested sections walked."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        inner = _model_of(field.annotation)
        if inner is not None:
            keys += schema_keys(inner, f"{key}.")
        elif key not in NOT_FUZZED:
            keys.append(key)
    return keys


def _arguments(fn, provided=()) -> list[str]:
    return [n for n, p in inspect.signature(fn).parameters.items() if n not in {"key", *provided}
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def all_keys() -> list[str]:
    keys = schema_keys(experiment_schema())
    for family in OBJECTIVES.values():
        keys += schema_keys(family, "objective.")
    for registry, section in ((MODELS, "model"), (PDES, "pde")):
        for name in registry.names():
            keys += [f"{section}.{a}" for a in _arguments(registry.get(name, where=section), registry.provided)]
    for name in ("adam", "adamw", "sgd"):
        keys += [f"optimizer.args.{a}" for a in _arguments(OPTIMIZERS[name], ("learning_rate",))]
    return sorted(set(keys))


KEYS = all_keys()
NAMES = {"objective.name": [*OBJECTIVES, "pinnn"], "model.name": [*MODELS.names(), "mpl"],
         "pde.name": [*PDES.names(), "burger"], "optimizer.name": ["adam", "sgd", "adamw", "lbfgs", "adamm"]}

scalars = st.one_of(
    st.integers(-(2**40), 2**40), st.integers(-3, 70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-300, 0.5, 1.0, 1e300]),
    st.booleans(), st.none(), st.text(max_size=8),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=6)
plausible = st.one_of(st.integers(0, 9), st.floats(-1.0, 2.0), st.lists(st.integers(0, 9), min_size=1, max_size=3),
                      st.sampled_from(["tanh", "relu", "gelu", "sobol", "uniform", "hard", "soft", "mse",
                                       "float64", "x", "t", "tensor", "nu", ""]))
raw_text = st.sampled_from(["{a: 1", "[1, 2", "{tensor:[0]}", "'", "!!python/object:os.system", "&a *a",
                            ".nan", "-.inf", "1e999", "0x10", "~", "[]", "{}", "true", "yes", "1_000"])


def _render(value) -> str:
    """A Python value as the YAML text of an override's value."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


@st.composite
def overrides(draw) -> list[str]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*KEYS, *NAMES]))
        if key in NAMES and draw(st.booleans()):
            text = draw(st.sampled_from(NAMES[key]))
        elif draw(st.integers(0, 4)) == 0:
            text = draw(raw_text)
        elif draw(st.booleans()):  # near a valid value, so that builds get past validation
            text = _render(draw(plausible))
        else:
            text = _render(draw(values))
        out.append(f"{key}={text}")
    return out


refusals = itertools.count()


def test_every_key_is_fuzzed():
    assert {"train.steps", "optimizer.learning_rate", "model.width", "pde.nu", "objective.n_collocation",
            "objective.history", "data.n_train", "evaluation.grid", "optimizer.args.b1"} <= set(KEYS)


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, dict]:
    """The configs fuzzed: the tiny PINN, and a tiny FNO operator on a tiny heat data set."""
    path = tmp_path_factory.mktemp("fuzz") / "heat.h5"
    generate(tiny_heat(), path, progress=False)
    operator = tiny_config(data={"path": str(path), "input": {"tensor": [0]}, "output": {"tensor": [-1]},
                                 "n_train": 4, "n_test": 2, "batch_size": 2})
    operator["objective"] = {"name": "operator"}
    operator["model"] = {"name": "fno", "modes": [4], "width": 4, "n_layers": 1}
    del operator["pde"], operator["evaluation"]
    return {"pinn": tiny_config(), "operator": operator}


@pytest.mark.parametrize("base", ["pinn", "operator"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(changes=overrides())
def test_random_overrides_build_or_fail_in_one_line(bases, tmp_path, base, changes):
    config = copy.deepcopy(bases[base])
    try:
        pdejax.experiment.build(config, changes)
    except ConfigError as err:
        message = str(err)
        assert message and "\n" not in message, (changes, message)
        # A few refusals go through pdejax.train too: refused before anything is left behind.
        n = next(refusals)
        if n < 12:
            run_dir = tmp_path / f"run-{n}"
            with pytest.raises(ConfigError):
                pdejax.train(copy.deepcopy(bases[base]), changes, run_dir=run_dir)
            assert not run_dir.exists(), changes
