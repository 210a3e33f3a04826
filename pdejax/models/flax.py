"""Flax networks as pdejax models: an NNX module, or a Linen module through its init/apply pair,
inside an Equinox pytree that the training loop trains, checkpoints and shards.

The adapter keeps the network's trainable arrays (``nnx.Param`` variables, Linen's ``params``
collection) as the pytree's leaves and its structure (the NNX graph definition, the Linen
module) as static data, so ``eqx.partition``, optax, orbax and ``NamedSharding`` see plain
arrays. Calling the adapter rebuilds the Flax network from those arrays and calls it.

In a config (``model.name: flax``)::

    imports: [my_lab.nets]            # or a .py file; see pdejax.config.plugins
    model:
      name: flax
      module: my_lab.nets:MLP         # 'package.module:Name' or 'path/to/file.py:Name'
      args: {width: 32, depth: 4}     # the constructor's own arguments
      input_shape: null               # one sample's shape for Linen's init; default (in_size,)

``module`` names an ``nnx.Module`` or ``linen.Module`` subclass, or a function returning an
instance of one. A relative file is first looked up among the files that ``imports:`` (or
``--import``) loaded, which resolve against the config's directory, so a resumed run and
``pdejax.load_run`` find it from any working directory; otherwise it resolves against the
working directory. A constructor parameter (NNX) or dataclass field (Linen) called ``in_size``
or ``out_size`` receives the run's value unless ``args`` sets it; an NNX constructor's
``rngs`` parameter receives ``nnx.Rngs`` seeded with the run's model key.

Linen modules infer their parameter shapes from an example input: the adapter initialises
them on zeros of shape ``input_shape``, by default ``(in_size,)`` — one point's
coordinates, what a PINN network receives; with that default the adapter also checks that
the network maps ``(in_size,)`` to ``(out_size,)``. Operator families pass the channel count
as ``in_size``, so an operator (Linen or NNX) sets ``input_shape: [channels, *grid]`` (one
sample, channels first).

The Flax network is used as a pure function: variables other than parameters (batch
statistics, RNG counters) are read but never updated and get no gradient; stochastic layers
such as ``nnx.Dropout`` see the same random stream on every call (make them deterministic).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ..config.errors import ConfigError
from ..config.plugins import import_extensions, is_file_spec

INSTALL = "pip install flax (or pip install 'pdejax[flax]')"


def _cast(tree: Any, dtype: Any) -> Any:
    """Floating arrays of ``tree`` in ``dtype`` (``None``: unchanged)."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _is_key(a: Any) -> bool:
    return isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jax.dtypes.prng_key)


def _plain_leaves(leaves: Sequence[Any]) -> tuple[list[Any], tuple[tuple[int, str], ...]]:
    """``leaves`` with typed PRNG keys as their raw data (orbax saves plain arrays only), and
    which leaves were keys, with their implementation's name, to wrap them again."""
    out, keys = [], []
    for i, a in enumerate(leaves):
        if _is_key(a):
            keys.append((i, str(jax.random.key_impl(a))))
            a = jax.random.key_data(a)
        out.append(a)
    return out, tuple(keys)


class NNXModel(eqx.Module):
    """A Flax NNX module as an Equinox pytree (final; build it with :func:`from_nnx`).

    Args:
        params: the module's ``nnx.Param`` values, as a nested dict (``nnx.to_pure_dict``):
            the trainable leaves.
        state: its other variables (batch statistics, RNG counters and keys as raw data),
            as a nested dict: read on every call, never trained or updated.

    Calling the model rebuilds the NNX module (``nnx.merge``) and calls it with the same
    arguments; :meth:`to_nnx` returns that module, for Flax code.

    Example:
        >>> from flax import nnx
        >>> model = from_nnx(nnx.Linear(2, 3, rngs=nnx.Rngs(0)))
        >>> model(jnp.ones(2)).shape, sorted(model.params)
        ((3,), ['bias', 'kernel'])
    """

    params: dict[str, Any]
    state: dict[str, Any]
    graphdef: Any = eqx.field(static=True)
    param_def: Any = eqx.field(static=True)  # treedef of the nnx.State of the parameters
    state_def: Any = eqx.field(static=True)
    state_keys: tuple[tuple[int, str], ...] = eqx.field(static=True)

    def to_nnx(self) -> Any:
        """The NNX module holding this model's arrays (a new object each call), e.g. the
        trained network for Flax code."""
        return self._merge(stop_state_gradient=False)

    def _merge(self, *, stop_state_gradient: bool) -> Any:
        from flax import nnx

        params = jax.tree.unflatten(self.param_def, jax.tree.leaves(self.params))
        leaves = jax.tree.leaves(self.state)
        if stop_state_gradient:
            leaves = [jax.lax.stop_gradient(a) for a in leaves]
        for i, impl in self.state_keys:
            leaves[i] = jax.random.wrap_key_data(leaves[i], impl=impl)
        return nnx.merge(self.graphdef, params, jax.tree.unflatten(self.state_def, leaves))

    def __call__(self, x: Array, *args: Any, **kwargs: Any) -> Any:
        """The NNX module applied to ``x`` (one sample, as the module expects it); the
        non-parameter variables get no gradient."""
        return self._merge(stop_state_gradient=True)(x, *args, **kwargs)


class LinenModel(eqx.Module):
    """A Flax Linen module with its variables as an Equinox pytree (final; build it with
    :func:`from_linen`).

    Args:
        params: the ``params`` collection (trainable leaves).
        state: the other collections (``batch_stats``...): read, never trained or updated.
        module: the Linen module (a hashable dataclass: static).

    Example:
        >>> import flax.linen as nn
        >>> model = from_linen(nn.Dense(3), jnp.zeros(2), key=jax.random.key(0))
        >>> model(jnp.ones(2)).shape, sorted(model.params)
        ((3,), ['bias', 'kernel'])
    """

    params: dict[str, Any]
    state: dict[str, Any]
    module: Any = eqx.field(static=True)

    @property
    def variables(self) -> dict[str, Any]:
        """The Linen variables ``{"params": ..., **other collections}``, for ``module.apply``."""
        return {"params": self.params, **self.state}

    def __call__(self, x: Array, *args: Any, **kwargs: Any) -> Any:
        """``module.apply(variables, x, ...)`` (one sample, as the module expects it)."""
        variables = {"params": self.params, **jax.lax.stop_gradient(self.state)}
        return self.module.apply(variables, x, *args, **kwargs)


def from_nnx(module: Any, *, dtype: Any = None) -> NNXModel:
    """An NNX module as a pdejax model (an Equinox pytree of its arrays).

    Args:
        module: an ``nnx.Module`` instance (it is split, not modified).
        dtype: floating dtype for the arrays (``None``: as initialised).
    """
    from flax import nnx

    if not isinstance(module, nnx.Module):
        raise TypeError(f"from_nnx needs an nnx.Module instance, got {type(module).__name__}")
    graphdef, params, state = nnx.split(module, nnx.Param, ...)
    param_leaves, param_def = jax.tree.flatten(params)
    state_leaves, state_def = jax.tree.flatten(state)
    pure_params, pure_state = nnx.to_pure_dict(params), nnx.to_pure_dict(state)
    # The pure dicts' leaf order is the State's (both sort the same keys): checked, since
    # to_nnx unflattens one with the other's structure.
    if any(a is not b and (a.shape, a.dtype) != (b.shape, b.dtype)
           for a, b in zip(jax.tree.leaves(pure_params), param_leaves, strict=True)):
        raise ValueError("the NNX parameters' pure dict does not list them in the State's order")
    plain, keys = _plain_leaves(state_leaves)
    pure_state = jax.tree.unflatten(jax.tree.structure(pure_state), plain)
    return NNXModel(_cast(pure_params, dtype), _cast(pure_state, dtype), graphdef, param_def, state_def, keys)


def from_linen(module: Any, example: Array | Sequence[int], *, key: PRNGKeyArray, dtype: Any = None) -> LinenModel:
    """A Linen module, initialised on ``example``, as a pdejax model.

    Args:
        module: a ``linen.Module`` instance.
        example: one input sample, or its shape (zeros of ``dtype`` are used): Linen
            infers the parameter shapes from it.
        key: PRNG key for ``module.init``.
        dtype: floating dtype for the variables (``None``: as initialised).
    """
    import flax.linen as nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"from_linen needs a linen.Module instance, got {type(module).__name__}")
    if not hasattr(example, "shape"):
        example = jnp.zeros(tuple(example), dtype or jnp.zeros(()).dtype)
    variables = dict(module.init(key, example))
    params = variables.pop("params", {})
    return LinenModel(_cast(dict(params), dtype), _cast(variables, dtype), module)


def _imported_file(path: str) -> types.ModuleType | None:
    """The module of a relative ``path`` that a config's ``imports:`` (or ``--import``)
    already loaded, if exactly one loaded file ends with it: so ``imports: [nets.py]`` and
    ``module: nets.py:Net`` name the same file from any working directory."""
    rel = Path(path)
    if rel.is_absolute():
        return None
    found = {m for name, m in list(sys.modules.items()) if name.startswith("pdejax_user_")
             and getattr(m, "__file__", None) and Path(m.__file__).parts[-len(rel.parts):] == rel.parts}
    if len(found) > 1:
        files = ", ".join(sorted(m.__file__ for m in found))
        raise ConfigError("module", path, f"one file, but several imported files end with it ({files}): "
                                          "give an absolute path or a dotted module name")
    return found.pop() if found else None


def _load(spec: str) -> Any:
    """The object ``spec`` = ``'package.module:Name'`` or ``'path/to/file.py:Name'`` names."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise ConfigError("module", spec, "'package.module:Name' or 'path/to/file.py:Name' naming a Flax module")
    if is_file_spec(where):
        try:
            module = _imported_file(where) or import_extensions([where], where="model.module")[0]
        except ConfigError as err:
            raise ConfigError("module", spec, f"an importable file: {err.valid}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as err:
            raise ConfigError("module", spec, f"an importable module ({err}; list a file or module under "
                                              "'imports:' or pass --import, or make it installed)") from None
        except Exception as err:  # the user's module failed while importing
            raise ConfigError("module", spec, f"a module that imports ({type(err).__name__}: {err})") from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            defined = sorted(n for n, v in vars(module).items() if not n.startswith("_") and callable(v)
                             and getattr(v, "__module__", None) == module.__name__)
            raise ConfigError("module", spec, f"a name defined in {where}: one of {', '.join(defined) or '(none)'}")
        obj = getattr(obj, part)
    return obj


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    # a class's own __init__: NNX's metaclass hides it behind (*args, **kwargs)
    try:
        params = inspect.signature(fn.__init__ if isinstance(fn, type) else fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params and params[name].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                     inspect.Parameter.KEYWORD_ONLY)


def build(spec: str, in_size: int, out_size: int, *, key: PRNGKeyArray, dtype: Any = None,
          args: Mapping[str, Any] | None = None, input_shape: Sequence[int] | None = None) -> NNXModel | LinenModel:
    """The adapter of the ``flax`` model (``model.name: flax``): load ``spec``, build, wrap.

    Errors are :class:`~pdejax.config.errors.ConfigError` s keyed ``module`` or ``args``
    (the registry prefixes ``model.``): flax not installed, a spec that does not import, an
    object that is neither a Flax module class nor a function returning a module, arguments
    the constructor refuses, and (with the default ``input_shape``) a network whose output
    for one point is not ``(out_size,)``.
    """
    try:
        import flax.linen as nn
        from flax import nnx
    except ImportError:
        raise ConfigError("module", spec, f"a Flax module with flax installed: {INSTALL}") from None
    if args is not None and not isinstance(args, Mapping):
        raise ConfigError("args", args, "a mapping of the module's constructor arguments")
    target = _load(spec)
    kwargs = dict(args or {})
    is_class = isinstance(target, type)
    if is_class and issubclass(target, nn.Module):
        names = {f.name for f in dataclasses.fields(target)}
        accepts = names.__contains__
    elif is_class and issubclass(target, nnx.Module) or (not is_class and callable(target)
                                                         and not isinstance(target, (nn.Module, nnx.Module))):
        accepts = lambda n: _accepts(target, n)  # noqa: E731
    elif isinstance(target, nnx.Module):
        raise ConfigError("module", spec, "an NNX module class or a function building one (an instance holds "
                                          "parameters already and would ignore the run's seed)")
    elif isinstance(target, nn.Module):
        accepts = lambda n: False  # noqa: E731  (a Linen instance is a configuration: init gives its variables)
    else:
        raise ConfigError("module", spec, f"a Flax module (an nnx.Module or linen.Module subclass, or a function "
                                          f"returning an instance), not {type(target).__name__}")
    for name, value in (("in_size", in_size), ("out_size", out_size)):
        if name not in kwargs and accepts(name):
            kwargs[name] = value
    if accepts("rngs") and "rngs" not in kwargs:
        kwargs["rngs"] = nnx.Rngs(key)
    if isinstance(target, nn.Module):
        net = target.clone(**kwargs) if kwargs else target
    else:
        try:
            net = target(**kwargs)
        except TypeError as err:
            raise ConfigError("args", dict(args or {}), f"the arguments of {spec} ({err})") from None
    if isinstance(net, nnx.Module):
        model = from_nnx(net, dtype=dtype)
    elif isinstance(net, nn.Module):
        shape = (in_size,) if input_shape is None else tuple(input_shape)
        model = from_linen(net, shape, key=key, dtype=dtype)
    else:
        raise ConfigError("module", spec, f"a Flax module (what it builds is a {type(net).__name__})")
    if input_shape is None:
        sample = jax.ShapeDtypeStruct((in_size,), dtype or jnp.zeros(()).dtype)
        try:
            shape = jax.eval_shape(model, sample).shape
        except Exception as err:
            raise ConfigError("module", spec, f"a network taking one point of shape ({in_size},) "
                                              f"({type(err).__name__}: {err})") from None
        if shape != (out_size,):
            raise ConfigError("module", spec, f"a network mapping one point ({in_size},) to ({out_size},); "
                                              f"it returns shape {shape} (set input_shape for other inputs)")
    return model
