"""What a sweep varies: ``--param`` search spaces and ``--grid`` values, parsed and checked.

A space is written as in ``pdejax sweep --param KEY=SPACE``: ``loguniform(1e-4,1e-2)``,
``uniform(0,1)``, ``int(2,8)``, ``int(16,256,log)`` or ``choice(tanh,gelu)``. Values are
read as YAML, as overrides are (``choice(64,128)`` gives integers, ``choice(tanh,gelu)``
strings, ``choice([16,16],[32,32])`` lists). Optuna stores only scalars: a choice or grid
holding lists or mappings is stored as the values' text and turned back into them here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config.errors import ConfigError
from ..config.loading import merge_overrides

KINDS = ("loguniform", "uniform", "int", "choice")
_SPACE = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$", re.DOTALL)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.([A-Za-z_][A-Za-z0-9_\-]*|[0-9]+))*$")
_EXAMPLES = "loguniform(1e-4,1e-2), uniform(0,1), int(2,8), int(16,256,log) or choice(tanh,gelu)"


@dataclass(frozen=True)
class Space:
    """One swept config key's search space, parsed from its text by :func:`parse_space`.

    Attributes:
        key: the dotted config key (``optimizer.learning_rate``).
        text: the space as written (``loguniform(1e-4,1e-2)``).
        kind: ``loguniform``, ``uniform``, ``int`` or ``choice``.
        low, high: the bounds of a numeric space (inclusive).
        log: an ``int`` space sampled on a log scale.
        choices: the values of a ``choice`` space.
    """

    key: str
    text: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The config value an Optuna trial samples for this key."""
        if self.kind == "choice":
            return from_stored(trial.suggest_categorical(self.key, [to_stored(c) for c in self.choices]),
                               self.choices)
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), log=self.kind == "loguniform")

    def samples(self) -> list[Any]:
        """Values that bound the space (every choice, else low and high): what the config is checked with."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


def parse_key(key: str, where: str, text: str) -> str:
    """A dotted config key (``model.width``); ConfigError naming ``where`` otherwise."""
    key = key.strip()
    if not _KEY.match(key):
        raise ConfigError(where, text, "KEY=VALUES with KEY a dotted config key such as optimizer.learning_rate")
    return key


def parse_space(item: str) -> Space:
    """``KEY=SPACE`` (one ``--param``) as a :class:`Space`.

    >>> parse_space("optimizer.learning_rate=loguniform(1e-4,1e-2)").samples()
    [0.0001, 0.01]
    >>> parse_space("model.activation=choice(tanh,gelu)").choices
    ('tanh', 'gelu')
    >>> parse_space("model.width=int(2,1)")
    Traceback (most recent call last):
    ...
    pdejax.config.errors.ConfigError: --param model.width = 'int(2,1)' is invalid: expected int(low,high) ...
    """
    if "=" not in item:
        raise ConfigError("--param", item, f"KEY=SPACE, with SPACE one of {_EXAMPLES}")
    key, text = item.split("=", 1)
    key = parse_key(key, "--param", item)
    where = f"--param {key}"
    match = _SPACE.match(text)
    if match is None or match.group(1) not in KINDS:
        raise ConfigError(where, text, f"a search space: {_EXAMPLES}")
    kind, args = match.group(1), [parse_value(a, where, text) for a in split_values(match.group(2), where, text)]
    if kind == "choice":
        if not args:
            raise ConfigError(where, text, "choice(a,b,...) with at least one value")
        _check_distinct(args, where, text)
        return Space(key, text.strip(), kind, choices=tuple(args))
    if kind == "int":
        log = len(args) == 3 and args[2] == "log"
        if len(args) not in (2, 3) or (len(args) == 3 and not log) or not all(_is_int(a) for a in args[:2]) \
                or not args[0] < args[1] or (log and args[0] < 1):
            raise ConfigError(where, text, "int(low,high) with integers low < high, or int(low,high,log) with "
                              "1 <= low < high, e.g. int(2,8)")
        return Space(key, text.strip(), kind, low=args[0], high=args[1], log=log)
    positive = kind == "loguniform"
    if len(args) != 2 or not all(_is_number(a) for a in args) or not args[0] < args[1] \
            or (positive and not args[0] > 0):
        bounds = "0 < low < high" if positive else "low < high"
        raise ConfigError(where, text, f"{kind}(low,high) with finite numbers {bounds}, e.g. "
                          f"{'loguniform(1e-4,1e-2)' if positive else 'uniform(0,1)'}")
    return Space(key, text.strip(), kind, low=args[0], high=args[1])


def parse_grid(item: str) -> tuple[str, tuple[Any, ...]]:
    """``KEY=V1,V2,...`` (one ``--grid``) as ``(key, values)``; values are read as YAML.

    >>> parse_grid("optimizer.learning_rate=1e-3,1e-4")
    ('optimizer.learning_rate', (0.001, 0.0001))
    >>> parse_grid("model.modes=[8,8],[16,16]")
    ('model.modes', ([8, 8], [16, 16]))
    """
    if "=" not in item:
        raise ConfigError("--grid", item, "KEY=V1,V2,... such as optimizer.learning_rate=1e-3,1e-4")
    key, text = item.split("=", 1)
    key = parse_key(key, "--grid", item)
    where = f"--grid {key}"
    values = [parse_value(v, where, text) for v in split_values(text, where, text)]
    if not values:
        raise ConfigError(where, text, "at least one value, e.g. 1e-3,1e-4")
    _check_distinct(values, where, text)
    return key, tuple(values)


def split_values(text: str, where: str, whole: str) -> list[str]:
    """``text`` split at its top-level commas (not those inside brackets, braces or quotes)."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
            if depth < 0:
                break
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0 or quote:
        raise ConfigError(where, whole, "values separated by commas, with balanced brackets and quotes")
    parts.append(text[start:])
    if parts == [""]:
        return []
    if any(not p.strip() for p in parts):
        raise ConfigError(where, whole, "values separated by single commas (an empty value between two)")
    return [p.strip() for p in parts]


def parse_value(text: str, where: str, whole: str) -> Any:
    """One value, read as an override's value is (YAML, with ``1e-3`` a number)."""
    try:
        value = merge_overrides({}, [f"value={text}"])["value"]
    except ConfigError:
        raise ConfigError(where, whole, f"values that parse as YAML ({text!r} does not)") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(where, whole, f"finite values ({text!r} is not)")
    return value


def override(key: str, value: Any) -> str:
    """The ``key=value`` override that sets ``value`` (JSON is YAML, and keeps every type).

    >>> override("optimizer.learning_rate", 1e-05), override("model.activation", "tanh")
    ('optimizer.learning_rate=1e-05', 'model.activation="tanh"')
    """
    return f"{key}={json.dumps(value)}"


def to_stored(value: Any) -> Any:
    """What Optuna stores for a value: the value itself when a scalar, else its JSON text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


def from_stored(stored: Any, values: Sequence[Any]) -> Any:
    """The value of ``values`` that Optuna stored as ``stored`` (see :func:`to_stored`)."""
    for value in values:
        if to_stored(value) == stored and type(to_stored(value)) is type(stored):
            return value
    return stored


def describe(params: Mapping[str, Any]) -> str:
    """``key=value, ...`` with short numbers, for one line of output."""
    return ", ".join(f"{k}={short(v)}" for k, v in params.items())


def count(n: int, noun: str) -> str:
    """``1 trial``, ``2 trials``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def short(value: Any) -> str:
    """A value for one line of output: floats to 3 significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_distinct(values: Sequence[Any], where: str, text: str) -> None:
    stored = [json.dumps(v, sort_keys=True) for v in values]
    twice = next((v for v, s in zip(values, stored, strict=True) if stored.count(s) > 1), None)
    if twice is not None:
        raise ConfigError(where, text, f"distinct values ({twice!r} is given twice)")
