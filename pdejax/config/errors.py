"""The one error type users see for bad input: it names the key, the value and what is valid."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """Invalid configuration, argument or file.

    Args:
        key: dotted config key (``optimizer.learning_rate``) or the name of the file
            or argument at fault.
        value: the offending value.
        valid: what would be accepted, in words.

    Example:
        >>> err = ConfigError("optimizer.learning_rate", -1.0, "a positive number")
        >>> print(err)
        optimizer.learning_rate = -1.0 is invalid: expected a positive number.
        >>> isinstance(err, ValueError), err.key
        (True, 'optimizer.learning_rate')
        >>> print(ConfigError.unknown_key("model.widht", 64, ["depth", "width"]))
        unknown config key 'model.widht' (value 64). Valid keys here: depth, width. Did you mean 'width'?
    """

    def __init__(self, key: str, value: Any, valid: str, *, message: str | None = None):
        self.key, self.value, self.valid = key, value, valid
        super().__init__(message or f"{key} = {value!r} is invalid: expected {valid}.")

    @classmethod
    def unknown_key(cls, key: str, value: Any, valid_keys: list[str]) -> "ConfigError":
        leaf = key.rsplit(".", 1)[-1]
        close = difflib.get_close_matches(leaf, valid_keys, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        valid = ", ".join(valid_keys)
        return cls(key, value, f"one of the keys {valid}",
                   message=f"unknown config key {key!r} (value {value!r}). Valid keys here: {valid}.{hint}")

    @classmethod
    def from_pydantic(cls, err: Any, prefix: str = "", root: Any = None, error: dict | None = None) -> "ConfigError":
        """The first error of a pydantic ``ValidationError`` (or ``error``, one of its
        ``errors()`` entries) as a ConfigError; ``root`` is the model validated, for
        the list of valid keys when a key is unknown."""
        first = error if error is not None else err.errors()[0]
        loc = [str(p) for p in first["loc"]]
        key = ".".join(p for p in (prefix, *loc) if p)
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):  # a validator's own check: its key is relative to loc
            return cls(".".join(p for p in (key, cause.key) if p), cause.value, cause.valid)
        if first["type"] == "extra_forbidden":
            return cls.unknown_key(key, first.get("input"), _fields_at(root, loc[:-1]))
        if first["type"] == "missing":
            return cls(key, None, "a value",
                       message=f"missing required config key {key!r}")
        members = _union_members(err, first)
        if members:  # `float | dict`: name the key, not pydantic's tag of the union member
            tag, alternatives = members
            key = ".".join(p for p in (prefix, *loc[:tag]) if p)
            return cls(key, first.get("input"), " or ".join(dict.fromkeys(_valid(e) for e in alternatives)))
        return cls(key, first.get("input"), _valid(first))


def _valid(error: dict) -> str:
    msg = error["msg"]
    valid = (msg[0].lower() + msg[1:]) if msg else "a valid value"
    for prefix_text in ("input should be ", "value error, ", "assertion failed, "):
        valid = valid.removeprefix(prefix_text)
    return valid


def _union_members(err: Any, first: dict) -> tuple[int, list[dict]] | None:
    """``(index of the union tag in first's loc, the errors of every member)`` when
    ``first`` is one member's error of a union, else None."""
    if err is None or not hasattr(err, "errors"):
        return None
    errors = err.errors()
    loc = tuple(first["loc"])
    offset = len(errors[0]["loc"]) - len(loc) if errors else 0  # `first` may have had its loc shortened
    for i in range(len(loc) - 1, -1, -1):
        if not isinstance(loc[i], str) or not _TYPE_TAG.match(loc[i]):
            continue
        full = i + offset
        same = [e for e in errors if len(e["loc"]) > full and tuple(e["loc"][offset:full]) == loc[:i]
                and isinstance(e["loc"][full], str) and _TYPE_TAG.match(e["loc"][full])]
        if len({e["loc"][full] for e in same}) > 1:
            return i, same
    return None


_TYPE_TAG = re.compile(r"^(float|int|str|bool|none|[a-z-]+\[.*\]|constrained-[a-z]+|function-[a-z]+.*|"
                       r"dict\[.*\]|list\[.*\]|tuple\[.*\]|literal\[.*\])$")


def _fields_at(root: Any, loc: list[str]) -> list[str]:
    """Field names of the pydantic model reached from ``root`` along ``loc`` (through
    optional sections, and mappings of sections whose keys are names: ``pde.trainable.nu``)."""
    model, parts = root, list(loc)
    while parts:
        field = getattr(model, "model_fields", {}).get(parts.pop(0))
        if field is None:
            return []
        model = _optional_member(field.annotation)
        if typing.get_origin(model) is dict and parts:  # the next part is a key of the mapping
            parts.pop(0)
            model = _optional_member(typing.get_args(model)[1])
    return sorted(getattr(model, "model_fields", {}))


def _optional_member(annotation: Any) -> Any:
    """``X`` for ``X | None``; any other annotation as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation
