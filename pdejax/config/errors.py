"""The one error type users see for bad input: it names the key, the value and what is valid."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """Invalid configuration, argument or file.

    Args:
        key: dotted config key (``optimizer.learning_rate``) or the name of the file
            or argument at fault.
        value: the offending value.
        valid: what would be accepted, in words.
    """

    def __init__(self, key: str, value: Any, valid: str):
        self.key, self.value, self.valid = key, value, valid
        super().__init__(f"{key} = {value!r} is invalid: expected {valid}.")

    @classmethod
    def from_pydantic(cls, err: Any, prefix: str = "") -> "ConfigError":
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        key = ".".join(p for p in (prefix, loc) if p)
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            return cls(key, first.get("input"), "no such key here (check the spelling)")
        if first["type"] == "missing":
            return cls(key, "<missing>", "a value: this key is required")
        valid = msg[0].lower() + msg[1:] if msg else "a valid value"
        valid = valid.removeprefix("input should be ").removeprefix("value error, ")
        return cls(key, first.get("input"), valid)
