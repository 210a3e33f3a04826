"""Strict numbers in configs: a boolean is not a count, and nan or inf is not a setting.

YAML reads ``true`` as a boolean and ``.nan`` / ``.inf`` as floats, and pydantic's
lax mode would turn ``true`` into ``1`` for an ``int`` field; these checks refuse both
where a number is expected, before anything is built.

Example:
    >>> from typing import Optional
    >>> bool_for_number(dict[str, float], {"a": 1.0, "b": True})
    ('b',)
    >>> bool_for_number(Optional[bool], True) is None
    True
    >>> first_non_finite({"optimizer": {"learning_rate": float("nan")}})
    (('optimizer', 'learning_rate'), nan)
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any

import pydantic
from pydantic import BeforeValidator


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number, not a boolean")
    return value


StrictInt = Annotated[int, BeforeValidator(_no_bool), pydantic.Field(ge=-(2**31), lt=2**31)]
"""An int that refuses booleans and leaves JAX's default int32 range (numeric strings
from the command line still parse)."""
StrictFloat = Annotated[float, BeforeValidator(_no_bool), pydantic.Field(allow_inf_nan=False)]
"""A finite float that refuses booleans and accepts ints."""


def _admits_bool(ann: Any) -> bool:
    """Whether a value of type ``ann`` may be a boolean (unknown types: yes)."""
    if ann in (int, float, complex):
        return False
    origin = typing.get_origin(ann)
    if origin is Annotated:
        return _admits_bool(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_admits_bool(a) for a in typing.get_args(ann))
    if origin is typing.Literal:
        return any(isinstance(a, bool) for a in typing.get_args(ann))
    if ann is type(None) or ann is str:
        return False
    if origin in (list, tuple, dict, set) or isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
        return False
    return True


def bool_for_number(ann: Any, value: Any) -> tuple[str, ...] | None:
    """The location (inside ``value``) of a boolean where ``ann`` expects a number, or None."""
    if isinstance(value, bool):
        return () if not _admits_bool(ann) and _number_in(ann) else None
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Annotated:
        return bool_for_number(args[0], value)
    if origin in (typing.Union, types.UnionType):
        fits = [a for a in args if _container_fits(a, value)]
        return bool_for_number(fits[0], value) if len(fits) == 1 else None
    if origin is dict and isinstance(value, Mapping) and len(args) == 2:
        for k, v in value.items():
            inner = bool_for_number(args[1], v)
            if inner is not None:
                return (str(k), *inner)
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                if i >= len(args):
                    break
                item = args[i]
            else:
                item = args[0] if args else Any
            inner = bool_for_number(item, v)
            if inner is not None:
                return (str(i), *inner)
    return None


def _number_in(ann: Any) -> bool:
    if ann in (int, float):
        return True
    origin = typing.get_origin(ann)
    if origin in (Annotated, typing.Union, types.UnionType):
        return any(_number_in(a) for a in typing.get_args(ann))
    return False


def _container_fits(ann: Any, value: Any) -> bool:
    origin = typing.get_origin(ann)
    if origin is Annotated:
        return _container_fits(typing.get_args(ann)[0], value)
    if isinstance(value, Mapping):
        return origin is dict
    if isinstance(value, (list, tuple)):
        return origin in (list, tuple)
    return origin not in (dict, list, tuple) and ann is not type(None)


def first_non_finite(data: Any, path: tuple[str, ...] = ()) -> tuple[tuple[str, ...], float] | None:
    """``(key path, value)`` of the first nan or inf float in nested mappings and lists."""
    if isinstance(data, float) and not math.isfinite(data):
        return path, data
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, (list, tuple)):
        items = enumerate(data)
    else:
        return None
    for k, v in items:
        found = first_non_finite(v, (*path, str(k)))
        if found is not None:
            return found
    return None
