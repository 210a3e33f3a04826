"""Optimizers and learning-rate schedules by name, from ``optax`` and ``optax.contrib``
(and ``soap``, :func:`pdejax.training.soap.soap`)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

import optax
import optax.contrib

from ..config.errors import ConfigError
from ..config.registry import suggest, validate_call_args
from .soap import soap

# Optax functions that are not whole optimizers (building blocks, wrappers) are left out.
_NOT_OPTIMIZERS = {"lbfgs", "chain", "named_chain", "multi_transform", "inject_hyperparams",
                   "inject_stateful_hyperparams", "apply_every", "masked", "flatten", "sam",
                   "mechanize", "reduce_on_plateau", "differentially_private_aggregate",
                   "hutchinson_estimator_diag_hessian", "normalize", "split_real_and_imaginary",
                   "galore", "dpsgd", "schedule_free", "identity", "set_to_zero"}


def _optimizers(module) -> dict[str, Any]:
    out = {}
    for name in dir(module):
        fn = getattr(module, name)
        if name.startswith(("_", "scale", "add_", "clip", "keep", "zero", "trace", "ema")) \
                or name in _NOT_OPTIMIZERS or not inspect.isfunction(fn):
            continue
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        if "learning_rate" in params:
            out[name] = fn
    return out


# Plus pdejax's own: SOAP (no maintained JAX package has it; optax 0.2.8 does not).
OPTIMIZERS: dict[str, Any] = (_optimizers(optax) | {f"contrib.{k}": v for k, v in _optimizers(optax.contrib).items()}
                              | {"soap": soap})
SCHEDULES: dict[str, Any] = {
    name: getattr(optax, name) for name in dir(optax)
    if (name.endswith("_schedule") or name in {"exponential_decay", "piecewise_interpolate_schedule"})
    and not name.startswith(("_", "join", "inject", "scale"))
}


def optimizer_names() -> list[str]:
    return sorted(OPTIMIZERS)


# What optax's docstrings say these arguments mean, as ranges: (low, high, low included).
_ARG_RANGES: dict[str, tuple[float, float, bool, str]] = {
    "b1": (0.0, 1.0, True, "a decay rate in [0, 1)"),
    "b2": (0.0, 1.0, True, "a decay rate in [0, 1)"),
    "b3": (0.0, 1.0, True, "a decay rate in [0, 1)"),
    "momentum": (0.0, 1.0, True, "a momentum in [0, 1)"),
    "decay": (0.0, 1.0, True, "a decay rate in [0, 1)"),
    "eps": (0.0, math.inf, False, "a positive number (added to a denominator)"),
    "eps_root": (0.0, math.inf, True, "a non-negative number"),
    "weight_decay": (0.0, math.inf, True, "a non-negative weight decay"),
}


def check_optimizer_args(args: Mapping[str, Any], *, where: str) -> None:
    """Refuse optimizer arguments outside the range optax documents for them.

    >>> check_optimizer_args({"b1": 0.9, "eps": 1e-8}, where="optimizer.args")
    >>> check_optimizer_args({"b2": 1.0}, where="optimizer.args")
    Traceback (most recent call last):
    ...
    pdejax.config.errors.ConfigError: optimizer.args.b2 = 1.0 is invalid: expected a decay rate in [0, 1).
    """
    for key, value in args.items():
        if key not in _ARG_RANGES or value is None:
            continue
        low, high, closed, valid = _ARG_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}.{key}", value, valid)
        if not (math.isfinite(value) and (low <= value if closed else low < value) and value < high):
            raise ConfigError(f"{where}.{key}", value, valid)


def build_schedule(spec: float | Mapping[str, Any], *, where: str) -> optax.Schedule | float:
    """A float, or ``{name: <optax schedule>, <its arguments>...}`` → schedule."""
    if isinstance(spec, bool) or not isinstance(spec, (int, float, Mapping)):
        raise ConfigError(where, spec, "a positive number or a schedule mapping {name: <optax schedule>, ...}")
    if isinstance(spec, (int, float)):
        if not (math.isfinite(spec) and spec > 0):
            raise ConfigError(where, spec, "a finite positive learning rate")
        return float(spec)
    spec = dict(spec)
    name = spec.pop("name", None)
    if name not in SCHEDULES:
        raise ConfigError(f"{where}.name", name, f"an optax schedule: {suggest(str(name), sorted(SCHEDULES))}")
    # Step boundaries are integers (boundaries_and_scales: {1000: 0.5}); a config written by
    # a YAML or JSON tool that quoted them ('1000') means the same steps.
    spec = {k: _integer_keys(v) for k, v in spec.items()}
    args = validate_call_args(SCHEDULES[name], spec, where=where)
    for k in ("init_value", "peak_value", "value", "end_value"):
        # Warm-up schedules may start (or decay) to zero; none may go negative.
        if k in args and args[k] is not None and (args[k] < 0 or (k == "peak_value" and args[k] == 0)):
            raise ConfigError(f"{where}.{k}", args[k], "a positive learning rate")
    return SCHEDULES[name](**args)


def _integer_keys(value: Any) -> Any:
    """A mapping whose keys are all integer strings, with integer keys; anything else unchanged."""
    if isinstance(value, Mapping) and value and all(isinstance(k, str) and k.lstrip("-").isdigit() for k in value):
        return {int(k): v for k, v in value.items()}
    return value


def build_optimizer(name: str, learning_rate: float | Mapping[str, Any], args: Mapping[str, Any] | None = None,
                    clip_norm: float | None = None, *, where: str = "optimizer"
                    ) -> tuple[optax.GradientTransformation, optax.Schedule | float]:
    """``optax.<name>(learning_rate, **args)`` (or ``optax.contrib.<name>``), optionally after
    global-norm clipping. Returns ``(optimizer, learning-rate schedule)``."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"{where}.name", name, f"an optax optimizer: {suggest(name, optimizer_names())}")
    lr = build_schedule(learning_rate, where=f"{where}.learning_rate")
    kwargs = validate_call_args(OPTIMIZERS[name], dict(args or {}), where=f"{where}.args",
                                provided=frozenset({"learning_rate"}))
    check_optimizer_args(kwargs, where=f"{where}.args")
    try:
        opt = OPTIMIZERS[name](learning_rate=lr, **kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}.args", dict(args or {}), f"arguments optax.{name} accepts ({err})") from None
    if clip_norm is not None:
        opt = optax.chain(optax.clip_by_global_norm(clip_norm), opt)
    return opt, lr
