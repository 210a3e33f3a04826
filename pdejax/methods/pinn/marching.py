"""Time marching: a PINN trained on ``[t0, t1]``, then ``[t1, t2]``, ... one window at a time.

Long time intervals are hard for a PINN trained on all of them at once (the residual can
be small for a solution that forgets its initial condition). Time marching splits the
interval into ``N`` equal windows and trains them in order (Wurth et al. 2023; Wang et
al.'s jaxpi): window ``k`` has its own network, initialised from window ``k - 1``'s, and
its initial condition is window ``k - 1``'s solution at ``t_k``.

It is built from the loop's own pieces, so checkpoints, resume, logs and evaluation work
unchanged:

- :class:`MarchingField`, the model: the ``N`` networks stacked, and the window being
  trained (a static index). It is the whole solution on ``[t0, tN]`` (each time read
  from its window's network), what evaluation, ``model/`` and ``load_run`` see.
- :class:`WindowedSource`: the run's collocation points mapped into one window.
- :class:`WindowPhase`: a phase (the optimizer's, then L-BFGS) on one window; its step
  moves the model into the window when the phase starts (:meth:`MarchingField.advance`:
  the previous window's network copied in). The optimizer is chained with
  :func:`freeze_earlier_windows`, so finished windows never move (weight decay included).

``fit`` sees a list of phases: window 0's are the run's usual ones, then each later
window's. The phase index in a checkpoint says which window a resumed run is in.
"""

from __future__ import annotations

from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from ...objectives import PINNField
from ...objectives.pinn import AbstractPINNField, features
from ...pde import PDE, Dirichlet
from ...training import AbstractDeviceSource, AbstractPhase, OptaxPhase
from ...training.state import TrainState
from .curriculum import WrappedStep


class MarchingField(AbstractPINNField):
    """A PINN solution made of one network per time window.

    With ``constraint="hard"``, in window ``J`` (``t_J ≤ t < t_{J+1}``)

        u(x, t) = u0(x) + φ(x) · [Σ_{j<J} net_j(x, t_{j+1}) + τ_J · net_J(x, t)],

    ``τ_J = (t - t_J)/(t_{J+1} - t_J)``: the sum is the solution at ``t_J`` (window ``J - 1``
    at its end), so each window's initial condition holds exactly, and the boundary
    condition through ``φ`` as for :class:`~pdejax.objectives.PINNField`. With
    ``constraint="soft"`` it is ``net_J(x, t)``; the objective's ``initial`` term fits it to
    window ``J - 1`` at ``t_J``. Each network sees the spatial features of a
    ``PINNField`` and the time local to its window, on ``[-1, 1]``.

    Windows after ``active`` (not trained yet) are read from the active window's network
    (extrapolated); windows before it take no gradient.

    ``local=True`` (soft constraints; what :meth:`training_view` returns for the loss) reads
    every point from the active window's network and the initial values from the previous
    window's at ``t_active``: equal to the whole field at the points the loss sees (they lie
    in the active window), at the cost of one or two networks instead of ``active + 1``.

    Args:
        nets: the ``N`` networks stacked: every array leaf has a leading axis of size ``N``
            (:meth:`from_field` makes them from one network).
        pde: the PDE (an evolution problem, first order in time, no trainable parameters).
        constraint: ``"hard"`` or ``"soft"``.
        times: the ``N + 1`` window boundaries ``t0 < t1 < ... < tN``.
        active: the window being trained.
    """

    nets: eqx.Module
    pde: PDE
    constraint: Literal["hard", "soft"] = eqx.field(static=True)
    times: tuple[float, ...] = eqx.field(static=True)
    active: int = eqx.field(static=True)
    local: bool = eqx.field(static=True)

    def __init__(self, nets: eqx.Module, pde: PDE, constraint: Literal["hard", "soft"], times, active: int = 0,
                 local: bool = False):
        if pde.domain.time is None or pde.second_order:
            raise ValueError(f"time marching needs an evolution PDE first order in time; {pde.name!r} is not")
        self.nets, self.pde, self.constraint = nets, pde, constraint
        self.times = tuple(float(t) for t in times)
        if not 0 <= active < len(self.times) - 1:
            raise ValueError(f"window {active} of {len(self.times) - 1}")
        if local and constraint != "soft":
            raise ValueError("a local (training) view of a time-marching field needs soft constraints")
        self.active, self.local = active, local

    @classmethod
    def from_field(cls, field: PINNField, windows: int) -> MarchingField:
        """``windows`` equal windows over the PDE's time interval, every network starting as
        ``field.net``."""
        if field.parameters is not None:
            raise ValueError("time marching does not train PDE parameters")
        t0, t1 = field.pde.domain.time
        times = [t0 + (t1 - t0) * k / windows for k in range(windows)] + [t1]
        arrays, static = eqx.partition(field.net, eqx.is_array)
        stacked = jax.tree.map(lambda a: jnp.repeat(a[None], windows, axis=0), arrays)
        return cls(eqx.combine(stacked, static), field.pde, field.constraint, times)

    @property
    def n_windows(self) -> int:
        return len(self.times) - 1

    @property
    def physics(self) -> PDE:
        return self.pde

    @property
    def time_window(self) -> tuple[float, float]:
        return self.times[self.active], self.times[self.active + 1]

    def advance(self, window: int) -> MarchingField:
        """This field training ``window``: entering a later window copies the network of the
        window before it into it (unchanged if ``window`` is the active one)."""
        if window == self.active:
            return self
        if window < self.active:
            raise ValueError(f"time marching goes forward: window {window} after window {self.active}")
        arrays, static = eqx.partition(self.nets, eqx.is_array)
        arrays = jax.tree.map(lambda a: a.at[window].set(a[window - 1]), arrays)
        return MarchingField(eqx.combine(arrays, static), self.pde, self.constraint, self.times, window)

    def with_active(self, window: int) -> MarchingField:
        """The same networks with ``window`` as the active one (nothing copied): the
        finished model is read with the last window active."""
        return MarchingField(self.nets, self.pde, self.constraint, self.times, window)

    def training_view(self) -> MarchingField:
        """With soft constraints, this field read locally (``local=True``): only the active
        window's network (and the previous one's for the initial values) is evaluated, so a
        step in window ``k`` costs as much as in window 0. Hard constraints sum the earlier
        windows into every value: the field itself."""
        if self.constraint != "soft" or self.local:
            return self
        return MarchingField(self.nets, self.pde, self.constraint, self.times, self.active, local=True)

    def net(self, window: int | Array) -> eqx.Module:
        """The network of ``window`` (a static index, or a traced one)."""
        arrays, static = eqx.partition(self.nets, eqx.is_array)
        return eqx.combine(jax.tree.map(lambda a: a[window], arrays), static)

    def _out(self, window: int | Array, x: Array, t: Array, frozen: bool = False) -> Array:
        lo = jnp.asarray(self.times, x.dtype)[window]
        hi = jnp.asarray(self.times, x.dtype)[window + 1]
        z = self.pde.domain.to_unit(jnp.concatenate([x, t[None]]))
        z = z.at[-1].set(2 * (t - lo) / (hi - lo) - 1)  # the time local to the window
        net = self.net(window)
        if frozen:
            net = jax.lax.stop_gradient(net)
        return net(features(self.pde, z))

    def window_of(self, t: Array) -> Array:
        """The index of the window holding time ``t`` (at most the active one)."""
        inner = jnp.asarray(self.times[1:-1], t.dtype)
        return jnp.minimum(jnp.sum(t >= inner), self.active)

    def __call__(self, point: Float[Array, " n"]) -> Float[Array, " fields"]:
        dim = self.pde.domain.dim
        x, t = point[:dim], point[dim]
        current = self.window_of(t)
        if self.local:
            return self._out(self.active, x, t)
        if self.constraint == "soft":
            # Each window's network with a static index, then the point's window selected: a
            # network indexed by a traced (per-point) window would gather every weight per
            # point under vmap (10x slower). Earlier windows are frozen: they take no gradient.
            if self.active == 0:
                return self._out(0, x, t)
            outs = [self._out(j, x, t, frozen=j < self.active) for j in range(self.active + 1)]
            return sum(jnp.where(current == j, out, 0) for j, out in enumerate(outs))
        z = self.pde.domain.to_unit(point)
        phi = jnp.prod(1 - z[:dim] ** 2) if isinstance(self.pde.boundary, Dirichlet) else jnp.ones((), point.dtype)
        constraint = jnp.asarray([k in self.pde.constraints for k in self.pde.fields])
        total = jnp.zeros((len(self.pde.fields),), point.dtype)
        for j in range(self.active + 1):
            lo, hi = self.times[j], self.times[j + 1]
            done = j < current
            t_j = jnp.where(done, jnp.asarray(hi, t.dtype), t)  # a finished window at its end: no t-dependence
            out = self._out(j, x, t_j, frozen=j < self.active)
            tau = (t_j - lo) / (hi - lo)
            # Constraint fields (no initial condition) are the current window's network alone.
            term = jnp.where(constraint, jnp.where(j == current, out, 0), jnp.where(j <= current, tau * out, 0))
            total = total + term
        return self.pde.initial_values(x) + phi * total

    def initial_values(self, x: Float[Array, " dim"]) -> Float[Array, " fields"]:
        """The PDE's initial condition in window 0; window ``k - 1``'s solution at ``t_k``
        in window ``k`` (no gradient flows into it)."""
        if self.active == 0:
            return self.pde.initial_values(x)
        start = jnp.full((), self.times[self.active], x.dtype)
        if self.local:  # window active - 1 at its end, as the whole field reads it
            return jax.lax.stop_gradient(self._out(self.active - 1, x, start, frozen=True))
        previous = self.with_active(self.active - 1)
        return jax.lax.stop_gradient(previous(jnp.concatenate([x, start[None]])))


def freeze_earlier_windows(window: int) -> optax.GradientTransformation:
    """Zero the updates of the networks of windows before ``window`` (chain it after the
    optimizer, so that weight decay cannot move a finished window either). The parameters
    must be a :class:`MarchingField`."""

    def update(updates, state, params=None):
        def mask(nets):
            def leaf(u):
                keep = (jnp.arange(u.shape[0]) >= window).reshape((-1,) + (1,) * (u.ndim - 1))
                return jnp.where(keep, u, jnp.zeros_like(u))

            return jax.tree.map(leaf, nets)

        return eqx.tree_at(lambda m: m.nets, updates, replace_fn=mask), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def map_to_window(points: Float[Array, "n d"], interval: tuple[float, float],
                  window: tuple[float, float]) -> Float[Array, "n d"]:
    """Points of the whole time ``interval`` mapped affinely into ``window`` (their last column)."""
    (t0, t1), (w0, w1) = interval, window
    return points.at[:, -1].set(w0 + (points[:, -1] - t0) * ((w1 - w0) / (t1 - t0)))


class WindowedSource(AbstractDeviceSource):
    """A collocation source of the whole time interval with its points mapped into one
    window (``interior`` and ``boundary``; ``initial`` points are spatial). The inner
    source's state (adaptive points) stays in the whole interval's coordinates, so it
    carries over from one window to the next; an adaptive sampler's score must map its
    candidates the same way (:func:`map_to_window`)."""

    inner: AbstractDeviceSource
    interval: tuple[float, float] = eqx.field(static=True)
    window: tuple[float, float] = eqx.field(static=True)

    def init(self, key, dtype) -> Any:
        return self.inner.init(key, dtype)

    def draw(self, model, state, key, step):
        batch, state = self.inner.draw(model, state, key, step)
        moved = {k: map_to_window(v, self.interval, self.window) for k, v in batch.items()
                 if k in ("interior", "boundary")}
        return {**batch, **moved}, state


class WindowStep(WrappedStep):
    """A phase's compiled step on one window: the model enters the window (is advanced)
    when the phase starts; everything else is the wrapped step's."""

    def __init__(self, step: Any, window: int):
        super().__init__(step)
        self.window = window

    def _enter(self, state: TrainState) -> TrainState:
        if state.model.active == self.window:
            return state
        return TrainState(state.step, state.model.advance(self.window), state.opt_state, state.combiner_state,
                          state.batch_state, state.key)

    def init(self, model: MarchingField, key: jax.Array, *, step: int = 0) -> TrainState:
        return self.step.init(model.advance(self.window), key, step=step)

    def continue_from(self, state: TrainState) -> TrainState:
        return self.step.continue_from(self._enter(state))


class WindowPhase(AbstractPhase):
    """``inner`` (an optax or L-BFGS phase) on time-marching window ``window``, with that
    window's batch ``source``; an optax phase's optimizer is chained with
    :func:`freeze_earlier_windows`."""

    inner: AbstractPhase
    window: int = eqx.field(static=True)
    source: AbstractDeviceSource

    def __init__(self, inner: AbstractPhase, window: int, source: AbstractDeviceSource):
        if isinstance(inner, OptaxPhase) and window > 0:
            inner = OptaxPhase(inner.steps, optax.chain(inner.optimizer, freeze_earlier_windows(window)),
                               inner.schedule)
        self.inner, self.window, self.source, self.steps = inner, window, source, inner.steps

    def make_step(self, objective, source, combiner, mesh):
        return WindowStep(self.inner.make_step(objective, self.source, combiner, mesh), self.window)

    def learning_rate(self, phase_step: int) -> float | None:
        return self.inner.learning_rate(phase_step)
