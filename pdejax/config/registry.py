"""Name → constructor registries: how configs find PDEs, models, samplers and optimizers.

Users add their own entries with the decorator of a registry such as
:data:`pdejax.models.MODELS` (``from pdejax.models import MODELS``). Every keyword
argument of a registered function that the framework does not supply itself
(``in_size``, ``out_size``, ``key``...) becomes a config key, type-checked against the
function's annotations before anything is compiled.

Example (a registry of its own, so that the shared ones stay as shipped):
    >>> NETS = Registry("model", provided=("in_size", "out_size"))
    >>> @NETS.register("my_net")
    ... def my_net(in_size: int, out_size: int, *, key, width: int = 64):
    ...     '''A network of my own.'''
    ...     return (in_size, out_size, width)
    >>> NETS.describe()
    {'my_net': 'A network of my own.'}
    >>> NETS.build("my_net", {"width": "8"}, where="model", in_size=2, out_size=1, key=None)
    (2, 1, 8)
    >>> NETS.build("my_net", {"widht": 8}, where="model", in_size=2, out_size=1, key=None)
    Traceback (most recent call last):
    ...
    pdejax.config.errors.ConfigError: model.widht = 8 is invalid: expected an argument of my_net: ...'width'?).
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pydantic

from .errors import ConfigError
from .strict import StrictFloat, StrictInt


class Registry:
    """A named collection of constructors whose keyword arguments are config keys.

    Args:
        kind: what the entries are ("pde", "model"...), used in error messages.
        provided: argument names the framework passes itself; never read from configs.
    """

    def __init__(self, kind: str, provided: Iterable[str] = ()):
        self.kind = kind
        self.provided = frozenset(provided) | {"key"}
        self._entries: dict[str, Callable[..., Any]] = {}
        self._docs: dict[str, str] = {}

    def register(self, name: str, *, doc: str | None = None):
        """Decorator adding ``fn`` under ``name``; re-registering a name is an error."""

        def add(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries and self._entries[name] is not fn:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = fn
            summary = doc or (inspect.getdoc(fn) or "").split("\n")[0]
            self._docs[name] = summary
            return fn

        return add

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def describe(self) -> dict[str, str]:
        return {n: self._docs[n] for n in self.names()}

    def get(self, name: str, *, where: str) -> Callable[..., Any]:
        """The entry called ``name``; a ConfigError naming ``where`` if there is none."""
        if name not in self._entries:
            raise ConfigError(where, name, f"a registered {self.kind}: {suggest(name, self.names())}")
        return self._entries[name]

    def validate_args(self, name: str, args: Mapping[str, Any], *, where: str) -> dict[str, Any]:
        """Check ``args`` against the signature of entry ``name``; return coerced values."""
        return validate_call_args(self.get(name, where=f"{where}.name"), args, where=where,
                                  provided=self.provided)

    def build(self, name: str, args: Mapping[str, Any], *, where: str, **provided: Any) -> Any:
        """Validate ``args`` then call the entry with them and the framework's ``provided``."""
        kwargs = self.validate_args(name, args, where=where)
        try:
            return self.get(name, where=f"{where}.name")(**provided, **kwargs)
        except ConfigError as err:  # an entry's own check on one argument: prefix the section
            raise ConfigError(f"{where}.{err.key}", err.value, err.valid) from None
        except ValueError as err:
            raise ConfigError(where, dict(args), f"valid arguments for {self.kind} {name!r} ({err})") from None


def suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return "one of " + ", ".join(valid) + hint


def validate_call_args(fn: Callable[..., Any], args: Mapping[str, Any], *, where: str,
                       provided: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Type-check ``args`` against ``fn``'s keyword parameters with pydantic.

    ``int`` and ``float`` parameters (and array-like scalars such as optax's
    ``jax.typing.ArrayLike``) refuse booleans and nan/inf; parameters without such a
    simple annotation are accepted as given; unknown names and missing required
    parameters are ConfigErrors naming ``where.<arg>``.
    """
    sig = inspect.signature(fn)
    params = {n: p for n, p in sig.parameters.items()
              if n not in provided and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    for key in args:
        if key not in params and not accepts_any:
            valid = sorted(params) or ["(no arguments)"]
            raise ConfigError(f"{where}.{key}", args[key], f"an argument of {fn.__name__}: {suggest(key, valid)}")
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: fall back to what the signature holds
        hints = {}
    fields: dict[str, Any] = {}
    for n, p in params.items():
        ann = hints.get(n, p.annotation)
        if isinstance(ann, str):
            ann = {"int": int, "float": float, "bool": bool, "str": str}.get(ann, Any)
        ann = config_type(ann) if ann is not inspect.Parameter.empty else Any
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[n] = (ann, default)
    model = pydantic.create_model(f"{fn.__name__}_args", __config__=pydantic.ConfigDict(
        extra="allow" if accepts_any else "forbid", arbitrary_types_allowed=True, allow_inf_nan=False), **fields)
    try:
        validated = model.model_validate(dict(args))
    except pydantic.ValidationError as err:
        raise ConfigError.from_pydantic(err, prefix=where) from None
    return {k: getattr(validated, k) for k in args} | (validated.model_extra or {})


_STRICT = {int: StrictInt, float: StrictFloat, bool: bool, str: str, type(None): type(None)}


def config_type(ann: Any) -> Any:
    """The pydantic type a config value for a parameter annotated ``ann`` is checked as.

    ``int``/``float`` become strict (no booleans, no nan/inf; ints pass as floats);
    unions, tuples, lists and literals of those keep their shape; a union of scalar
    array types (``jax.typing.ArrayLike``, optax's ``Numeric``) is a float;
    anything else (callables, arrays, modules) is accepted as given (``Any``).
    """
    if ann in _STRICT:
        return _STRICT[ann]
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Literal:
        return ann
    if origin in (typing.Union, types.UnionType):
        if _array_like(args):  # a scalar hyperparameter that may also be an array: a number in a config
            return StrictFloat | None if type(None) in args else StrictFloat
        members = tuple(config_type(a) for a in args)
        return Any if Any in members else typing.Union[members]  # noqa: UP007
    if origin in (tuple, list, collections.abc.Sequence) and args and all(a in _STRICT or a is Ellipsis
                                                                          for a in args):
        inner = tuple(a if a is Ellipsis else _STRICT[a] for a in args)
        return tuple[inner] if origin is tuple else list[inner[0]]
    return Any


def _array_like(members: tuple[Any, ...]) -> bool:
    """Whether a union's members are numbers and arrays (``ArrayLike``), nothing callable or textual."""
    import jax
    import numpy as np

    def is_array(a: Any) -> bool:
        return isinstance(a, type) and issubclass(a, (np.ndarray, jax.Array))

    def is_scalar(a: Any) -> bool:
        return a in (int, float, bool, complex) or isinstance(a, type) and issubclass(a, (np.number, np.bool_))

    return (any(a in (int, float) or isinstance(a, type) and issubclass(a, np.number) for a in members)
            and any(is_array(a) for a in members)
            and all(is_array(a) or is_scalar(a) or a is type(None) for a in members))
