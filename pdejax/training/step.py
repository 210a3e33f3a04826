"""The public training step: ``make_step(objective, optimizer, mesh) -> step``.

``step(state, batches=None, n=1)`` runs ``n`` optimizer steps in one compiled call
(``lax.scan``), with the input state's buffers donated and the batches sharded along
the mesh's ``data`` axis. :func:`~pdejax.training.fit` is a loop around it; your own
script can be too (``scripts/custom_loop.py`` trains the Burgers PINN this way and
reproduces ``fit`` bitwise):

>>> import jax, jax.numpy as jnp, optax
>>> from pdejax.objectives import AbstractObjective
>>> from pdejax.training import FixedBatch, make_step
>>> class Fit(AbstractObjective):
...     loss_names = ("data",)
...     def loss(self, model, batch, key):
...         return {"data": jnp.sum((model - batch["y"]) ** 2)}, {}
>>> step = make_step(Fit(), optax.sgd(0.25), source=FixedBatch({"y": jnp.ones(2)}))
>>> state = step.init(jnp.zeros(2), jax.random.key(0))
>>> state, logs = step(state, n=10)          # ten steps, one compiled call
>>> logs["loss"].shape, float(logs["loss"][0])
((10,), 2.0)
>>> [float(w) for w in step.evaluation_model(state)]    # 1 - 0.5**10
[0.9990234375, 0.9990234375]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..config.errors import ConfigError
from ..objectives import AbstractObjective
from ..parallel import data_mesh
from .combiners import GradientCombiner, fixed
from .sources import AbstractDeviceSource
from .state import TrainState

EvalParams = Callable[[Any, Any], Any]  # (opt_state, params) -> params to evaluate


def batch_spec(mesh: Mesh, shape: tuple[int, ...], grid_axes: int = 0, lead: int = 0) -> P:
    """How a batch leaf of ``shape`` is sharded: its batch axis (``lead``) along ``data`` where it
    splits evenly; with a ``space`` mesh axis and ``grid_axes > 0``, a field leaf (at least
    ``lead + grid_axes + 1`` axes) also has its first grid axis along ``space``.

    >>> from pdejax.parallel import make_mesh
    >>> mesh = make_mesh(data=1, space=1, devices=jax.devices()[:1])
    >>> batch_spec(mesh, (8, 3, 64, 64), grid_axes=2), batch_spec(mesh, (8,), grid_axes=2)
    (P('data', None, 'space', None), P('data',))
    """
    axes = dict(mesh.shape)
    spec: list = [None] * len(shape)
    if len(shape) > lead and shape[lead] % axes.get("data", 1) == 0:
        spec[lead] = "data"
    if "space" in axes and grid_axes and len(shape) >= lead + grid_axes + 1:
        first = len(shape) - grid_axes
        if shape[first] % axes["space"] == 0:
            spec[first] = "space"
    return P(*spec)


def batch_constraint(mesh: Mesh, grid_axes: int = 0) -> Callable[[Any], Any]:
    """Shard every batch leaf as :func:`batch_spec` says (the batch along ``data``; the grid
    of field leaves along ``space`` too, where the mesh has that axis)."""
    sized = dict(mesh.shape)

    def constrain(batch):
        def leaf(x):
            if getattr(x, "ndim", 0) >= 1 and math.prod(sized.values()) > 1:
                return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, batch_spec(mesh, x.shape, grid_axes)))
            return x

        return jax.tree.map(leaf, batch)

    return constrain


def schedule_free_eval_params(opt_state: Any, params: Any) -> Any:
    """The evaluation iterate of a schedule-free optimizer found anywhere in ``opt_state``
    (e.g. inside a clipping chain); ``params`` unchanged for any other optimizer."""
    found = [s for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, optax.contrib.ScheduleFreeState))
             if isinstance(s, optax.contrib.ScheduleFreeState)]
    return optax.contrib.schedule_free_eval_params(found[0], params) if found else params


class Step:
    """A compiled training step; build it with :func:`make_step`.

    Attributes:
        objective, optimizer, combiner, source, mesh: as given to :func:`make_step`.
    """

    def __init__(self, objective: AbstractObjective, optimizer: optax.GradientTransformation, mesh: Mesh,
                 combiner: GradientCombiner, source: AbstractDeviceSource | None, eval_params: EvalParams | None,
                 term_grads: str):
        self.objective, self.combiner, self.source, self.mesh = objective, combiner, source, mesh
        self.optimizer = optax.with_extra_args_support(optimizer)
        self.eval_params = eval_params or schedule_free_eval_params
        self.term_grads = term_grads
        self.replicated = NamedSharding(mesh, P())
        self.grid_axes = objective.grid_axes
        self._constrain = batch_constraint(mesh, self.grid_axes)
        self._fed = NamedSharding(mesh, P(None, "data"))  # (steps, batch, ...): batch along data
        # Batches first, so that "all-except-first" donates the state but not the batches.
        self._compiled = eqx.filter_jit(lambda batches, state, n: self._scan(state, batches, n),
                                        donate="all-except-first")

    # -- states ------------------------------------------------------------------------
    def init(self, model: Any, key: jax.Array, *, step: int = 0) -> TrainState:
        """A fresh state: ``key`` is split into the batch source's initial key and the
        state's key; optimizer and combiner states start from ``model``'s arrays."""
        key = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
        k_init, key = jax.random.split(key)
        dtype = jnp.zeros(()).dtype
        batch_state = self.source.init(k_init, dtype) if self.source is not None else ()
        return self.place(self._fresh(model, batch_state, key, step, None))

    def continue_from(self, state: TrainState) -> TrainState:
        """``state`` handed to this step's optimizer (a new phase): same model, batch
        state, combiner state and key, a fresh optimizer state."""
        return self.place(self._fresh(state.model, state.batch_state, state.key, state.step,
                                      state.combiner_state))

    def _fresh(self, model, batch_state, key, step, combiner_state) -> TrainState:
        params = eqx.filter(model, eqx.is_array)
        if combiner_state is None:
            combiner_state = self.combiner.init(params, self.objective.loss_names)
        return TrainState(jnp.asarray(step, jnp.int32), model, self.optimizer.init(params), combiner_state,
                          batch_state, key)

    def place(self, state: TrainState) -> TrainState:
        """``state`` replicated over the mesh, in private buffers (the step donates them)."""
        arrays, static = eqx.partition(state, eqx.is_array)
        # Optimizer states may alias one buffer in several leaves; donation needs distinct ones.
        arrays = jax.tree.map(lambda x: jax.device_put(jnp.array(x, copy=True), self.replicated), arrays)
        return eqx.combine(arrays, static)

    def evaluation_model(self, state: TrainState) -> Any:
        """The model at the optimizer's evaluation iterate (schedule-free: the averaged
        point; any other optimizer: the current model)."""
        params, static = eqx.partition(state.model, eqx.is_array)
        return eqx.combine(self.eval_params(state.opt_state, params), static)

    # -- stepping ----------------------------------------------------------------------
    def __call__(self, state: TrainState, batches: Any = None, n: int = 1) -> tuple[TrainState, dict]:
        """``n`` steps → ``(state, logs)``; ``logs`` leaves have shape ``(n,)``.

        ``batches``: ``None`` to draw them from the device source, or host batches of
        the ``n`` steps stacked, leaves ``(n, batch, ...)`` (copied to the devices here,
        sharded along ``data``).
        """
        return self._compiled(self.put_batches(batches), state, n)

    def put_batches(self, batches: Any, global_batch: int | None = None) -> Any:
        """Host batches, leaves ``(n, batch, ...)``, on the devices, sharded along ``data``.

        In a multi-process run each process gives either the whole global batch
        (``global_batch=None``; it keeps its own rows, :meth:`local_rows`) or only its
        rows of a global batch of ``global_batch`` samples; the global array is assembled
        with ``jax.make_array_from_process_local_data``. Arrays already on the devices pass.
        """
        if batches is None:
            return None
        if jax.process_count() == 1:
            return jax.tree.map(lambda x: jax.device_put(x, self.fed_sharding(np.shape(x))), batches)

        def leaf(x):
            if isinstance(x, jax.Array) and not x.is_fully_addressable:
                return x
            x = np.asarray(x)
            size = x.shape[1] if global_batch is None else global_batch
            if global_batch is None:
                x = x[:, self.local_rows(size)]
            shape = (x.shape[0], size, *x.shape[2:])
            return jax.make_array_from_process_local_data(self.fed_sharding(shape), x, shape)

        return jax.tree.map(leaf, batches)

    def fed_sharding(self, shape: tuple[int, ...]) -> NamedSharding:
        """The sharding of a fed leaf ``(steps, batch, ...)``: the batch along ``data`` and, for
        fields under domain parallelism, the first grid axis along ``space`` (:func:`batch_spec`)."""
        if self.grid_axes == 0 or "space" not in self.mesh.axis_names:
            return self._fed
        return NamedSharding(self.mesh, batch_spec(self.mesh, shape, self.grid_axes, lead=1))

    def local_rows(self, batch_size: int) -> slice:
        """The rows of a global batch of ``batch_size`` samples that this process feeds
        (all of them in a single process): its devices' shards along ``data``, contiguous."""
        shards = {(s[1].start or 0, batch_size if s[1].stop is None else s[1].stop)
                  for s in self._fed.addressable_devices_indices_map((1, batch_size)).values()}
        lo, hi = min(a for a, _ in shards), max(b for _, b in shards)
        if sum(b - a for a, b in shards) != hi - lo:
            raise ValueError(f"this process's devices hold non-contiguous rows {sorted(shards)} of the batch; "
                             "order the mesh's devices by process")
        return slice(lo, hi)

    def compile(self, state: TrainState, batches: Any = None, n: int = 1) -> Callable[[TrainState, Any], Any]:
        """Compile ahead of time for states and batches shaped like these:
        ``compiled(state, batches) -> (state, logs)``, the same numbers as ``step(state, batches, n)``."""
        compiled = self._compiled.lower(self.put_batches(batches), state, n).compile()
        return lambda state, batches=None: compiled(self.put_batches(batches), state, n)

    def _scan(self, state: TrainState, batches: Any, n: int) -> tuple[TrainState, dict]:
        arrays, static = eqx.partition(state, eqx.is_array)

        def body(arrays, batch):
            new, logs = self.one(eqx.combine(arrays, static), batch)
            return eqx.filter(new, eqx.is_array), logs

        arrays, logs = jax.lax.scan(body, arrays, batches, length=n)
        return eqx.combine(arrays, static), logs

    def one(self, state: TrainState, batch: Any = None) -> tuple[TrainState, dict]:
        """One step, uncompiled (what the scan body runs)."""
        key, k_batch, k_loss = jax.random.split(state.key, 3)
        if batch is None:
            if self.source is None:
                raise ValueError("this step has no batch source: pass the batches")
            batch, batch_state = self.source.draw(state.model, state.batch_state, k_batch, state.step)
        else:
            batch_state = state.batch_state
        batch = self._constrain(batch)
        params, static = eqx.partition(state.model, eqx.is_array)
        weights = jax.lax.stop_gradient(self.combiner.weights(state.combiner_state))

        def terms(p):
            return self.objective.loss(eqx.combine(p, static), batch, k_loss)

        def weighted(losses):
            return sum(weights[k] * v for k, v in losses.items())

        if self.combiner.per_term:
            losses, grads, aux = self.term_gradients(terms, params)
            value = weighted(losses)
        else:
            differentiated = weighted
            if self.combiner.grad_weights is not None:  # e.g. one term's gradient per step
                grad_weights = jax.lax.stop_gradient(self.combiner.grad_weights(state.combiner_state))
                differentiated = lambda losses: sum(grad_weights[k] * v for k, v in losses.items())  # noqa: E731

            def total(p):
                losses, aux = terms(p)
                return differentiated(losses), (losses, aux)

            (value, (losses, aux)), grads = jax.value_and_grad(total, has_aux=True)(params)
            if self.combiner.grad_weights is not None:
                value = weighted(losses)
        extra = {}
        if "point_residuals" in self.combiner.needs:
            extra["point_residuals"] = {
                k: (lambda p, x, fn=fn: fn(eqx.combine(p, static), x), points)
                for k, (fn, points) in self.objective.point_residuals(batch, k_loss).items()}
        direction, combiner_state, combiner_aux = self.combiner.update(grads, losses, state.combiner_state, params,
                                                                       **extra)
        value_fn = lambda p: weighted(terms(p)[0])  # noqa: E731  (same batch and key)
        # value: MoMo, reduce_on_plateau; value_fn: line searches; obj_fn: Sophia's Hessian estimate.
        updates, opt_state = self.optimizer.update(direction, state.opt_state, params, value=value, grad=direction,
                                                   value_fn=value_fn, obj_fn=value_fn)
        params = optax.apply_updates(params, updates)
        new = TrainState(state.step + 1, eqx.combine(params, static), opt_state, combiner_state, batch_state, key)
        return new, {"loss": value, **losses, **aux, **combiner_aux}

    def term_gradients(self, terms: Callable, params: Any) -> tuple[dict, dict, dict]:
        """``(losses, {term: gradient}, aux)``.

        ``term_grads="split"``: each term differentiated on its own (``jax.value_and_grad`` of
        that term alone), so the compiler drops the other terms' work from its forward and
        reverse pass; a step costs about the terms' summed costs. ``"loop"``: one forward pass,
        one reverse pass per term (one-hot cotangents: each reverse pass goes through every
        term's graph); ``"vmap"``: those reverse passes vmapped, as ``jax.jacrev``."""
        if self.term_grads == "split":
            shapes = jax.eval_shape(lambda p: terms(p)[0], params)
            losses, grads, aux = {}, {}, {}
            for i, n in enumerate(shapes):
                def term(p, n=n):
                    values, term_aux = terms(p)
                    return values[n], term_aux

                (losses[n], term_aux), grads[n] = jax.value_and_grad(term, has_aux=True)(params)
                if i == 0:
                    aux = term_aux
            return losses, grads, aux
        losses, pullback, aux = jax.vjp(terms, params, has_aux=True)
        names = list(losses)
        if self.term_grads == "loop":
            grads = {}
            for n in names:
                (grads[n],) = pullback({k: jnp.ones_like(v) if k == n else jnp.zeros_like(v)
                                        for k, v in losses.items()})
            return losses, grads, aux
        eye = {k: jnp.eye(len(names), dtype=v.dtype)[i] for i, (k, v) in enumerate(losses.items())}
        (stacked,) = jax.vmap(pullback)(eye)
        return losses, {n: jax.tree.map(lambda g, i=i: g[i], stacked) for i, n in enumerate(names)}, aux


def make_step(objective: AbstractObjective, optimizer: optax.GradientTransformation, mesh: Mesh | None = None, *,
              combiner: GradientCombiner | None = None, source: AbstractDeviceSource | None = None,
              eval_params: EvalParams | None = None, term_grads: str = "split") -> Step:
    """The compiled training step of ``objective`` under ``optimizer``.

    Args:
        objective: named loss terms, ``loss(model, batch, key) -> (terms, aux)``.
        optimizer: any optax transformation. Those taking ``value``, ``grad``,
            ``value_fn`` or ``obj_fn`` (``optax.contrib.momo``, ``reduce_on_plateau``,
            line searches, ``sophia``) receive the step's weighted loss, its update
            direction and the loss as a function of the parameters on the same batch.
        mesh: device mesh with a ``data`` axis (default: one device); the state is
            replicated, batches are sharded along ``data``.
        combiner: how the terms' gradients combine (default :func:`fixed` weights of 1).
        source: a device batch source; without one, pass the batches to the step.
        eval_params: ``(opt_state, params) -> params`` to evaluate and save (default: the
            schedule-free average where the optimizer is schedule-free, else ``params``).
        term_grads: how combiners that need each term's gradient get them: ``"split"`` (the
            default: each term differentiated on its own, so each gradient costs that term's
            forward and reverse pass; 1.00-1.01x the summed step on the 3-term Burgers and
            Allen–Cahn PINNs, ``scripts/bench/pinn_burgers.py``), ``"loop"`` (one shared
            forward pass, one reverse pass per term through every term's graph: 1.3-1.7x) or
            ``"vmap"`` (those reverse passes vmapped, as ``jax.jacrev``: 2.2-4x).

    Returns:
        A :class:`Step`: ``step.init(model, key)``, then ``step(state, batches=None, n=1)``.
    """
    if term_grads not in ("split", "vmap", "loop"):
        raise ValueError(f"term_grads = {term_grads!r}: expected 'split', 'loop' or 'vmap'")
    combiner = combiner or fixed()
    if "point_residuals" in combiner.needs and \
            type(objective).point_residuals is AbstractObjective.point_residuals:
        name = type(objective).__name__
        raise ConfigError("optimizer.combine.name", None, "a combiner this objective supports", message=(
            f"optimizer.combine.name: this combiner needs per-point residuals (NTK weighting), which {name} "
            "does not give (it does not implement point_residuals); choose another combiner, e.g. grad_norm."))
    return Step(objective, optimizer, mesh if mesh is not None else data_mesh(1), combiner, source,
                eval_params, term_grads)
