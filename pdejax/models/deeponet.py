"""DeepONet (Lu et al. 2021): a branch net reads the input function, a trunk net the query point.

The output field ``c`` at a point ``y`` is ``G(u)_c(y) = sum_k b_{c,k}(u) t_{c,k}(y) + bias_c``
(unstacked DeepONet; several outputs by splitting the branch and trunk outputs into
``c_out`` groups of ``p``). With a POD trunk (Lu et al. 2022, "POD-DeepONet") the trunk
net is replaced by the mean and leading POD modes of training outputs, kept frozen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .mlp import ACTIVATIONS, MLP
from .registry import MODELS


def unit_grid(shape: Sequence[int], dtype=None) -> Float[Array, "points dim"]:
    """Points of a uniform grid over the unit box ``[0, 1]^dim``, endpoints included.

    Args:
        shape: points per axis, e.g. ``(64,)`` or ``(85, 85)``.
        dtype: floating dtype of the coordinates (default: JAX's default float).

    Returns:
        ``(prod(shape), len(shape))`` coordinates in C order (last axis fastest), so
        ``values.reshape(shape)`` puts point values back on the grid.
    """
    dtype = dtype or jnp.zeros(()).dtype
    axes = [jnp.linspace(0.0, 1.0, n, dtype=dtype) for n in shape]
    return jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(shape))


class DeepONet(eqx.Module):
    """Unstacked DeepONet on one input function sampled on a fixed sensor grid.

    The branch MLP reads the flattened input ``x`` of shape ``(c_in, *grid)`` (its sensor
    count is fixed at construction); the trunk MLP reads coordinates ``y`` in the unit box
    ``[0, 1]^dim``, ``dim = len(grid)``. ``__call__`` evaluates on the input's own grid
    (``unit_grid(grid)``: uniform, endpoints included); ``query`` at arbitrary points.
    The trunk sees ``2 y - 1`` (centred coordinates) and, as in DeepXDE, the activation is
    also applied to its last layer.

    POD trunk: pass ``pod_outputs`` (training outputs ``(N, c_out, *grid)``) or use
    :meth:`with_pod`. For each output channel, the mean over samples and the ``p``
    leading POD modes (SVD of the centred outputs) replace the trunk:
    ``G(u)_c = mean_c + sum_k b_{c,k}(u) phi_{c,k} + bias_c``. The modes are
    orthonormal in L2 of the unit box with the rectangle rule,
    ``mean(phi_j * phi_k) = delta_jk``, so branch outputs are O(1). The mean and modes are
    **frozen**: they are arrays of the module (saved in checkpoints) but used through
    ``jax.lax.stop_gradient``, so their gradients are zero (an optimizer with weight decay
    would still shrink them: exclude them from decay). A POD model only predicts on
    ``grid``; ``query`` raises.

    Args:
        in_channels: input channels ``c_in``.
        out_channels: output fields ``c_out``.
        grid: sensor grid shape, e.g. ``(100,)`` or ``(85, 85)``; also the output grid.
        p: basis functions per output field (number of POD modes with a POD trunk).
        width, depth: hidden width and number of hidden layers of each MLP.
        activation: one of ``tanh``, ``sin``, ``gelu``, ``silu``, ``softplus``.
        pod_outputs: training outputs ``(N, c_out, *grid)`` for a POD trunk, or None.
        key: PRNG key (keyword-only).
        dtype: parameter dtype (default: JAX's default float).

    Example:
        >>> # jax.eval_shape: shapes only, nothing is initialised or compiled
        >>> net = jax.eval_shape(lambda: DeepONet(1, 1, grid=(64,), p=32, key=jax.random.key(0)))
        >>> jax.eval_shape(lambda net, x: net(x), net, jnp.zeros((1, 64))).shape  # on the sensor grid
        (1, 64)
        >>> y = jnp.zeros((5, 1))  # 5 points in [0, 1]
        >>> jax.eval_shape(lambda net, x: net.query(x, y), net, jnp.zeros((1, 64))).shape
        (1, 5)
    """

    branch: MLP
    trunk: MLP | None
    bias: Float[Array, " c_out"]
    pod_mean: Float[Array, "c_out points"] | None
    pod_basis: Float[Array, "c_out p points"] | None
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    grid: tuple[int, ...] = eqx.field(static=True)
    p: int = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, grid: Sequence[int], p: int = 32, width: int = 64,
                 depth: int = 3, activation: str = "tanh", pod_outputs: ArrayLike | None = None, *,
                 key: PRNGKeyArray, dtype=None):
        grid = tuple(int(n) for n in grid)
        if not grid or any(n < 1 for n in grid):
            raise ValueError(f"grid must be a non-empty list of positive sizes, got {list(grid)}")
        if in_channels < 1 or out_channels < 1 or p < 1:
            raise ValueError(f"in_channels, out_channels and p must be >= 1, got {in_channels}, {out_channels}, {p}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is not one of {sorted(ACTIVATIONS)}")
        dtype = dtype or jnp.zeros(()).dtype
        if pod_outputs is not None:
            mean, basis = _pod(pod_outputs, grid, p, dtype)
            if mean.shape[0] != out_channels:
                raise ValueError(f"pod_outputs have {mean.shape[0]} channels, out_channels = {out_channels}")
            self.pod_mean, self.pod_basis = mean, basis
        else:
            self.pod_mean = self.pod_basis = None
        k_branch, k_trunk = jax.random.split(key)
        n_sensors = in_channels * math.prod(grid)
        self.branch = MLP(n_sensors, out_channels * p, width, depth, activation, key=k_branch, dtype=dtype)
        self.trunk = (None if pod_outputs is not None else
                      MLP(len(grid), out_channels * p, width, depth, activation, key=k_trunk, dtype=dtype))
        self.bias = jnp.zeros((out_channels,), dtype)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.grid, self.p, self.activation = grid, p, activation

    @classmethod
    def with_pod(cls, in_channels: int, outputs: ArrayLike, n_modes: int, width: int = 64, depth: int = 3,
                 activation: str = "tanh", *, key: PRNGKeyArray, dtype=None) -> DeepONet:
        """A POD-DeepONet whose frozen trunk is the mean and ``n_modes`` POD modes of ``outputs``.

        Args:
            outputs: training outputs ``(N, c_out, *grid)``; ``c_out`` and ``grid`` come from it.
            n_modes: POD modes per output field (at most ``min(N, prod(grid))``).
        """
        shape = jnp.shape(outputs)
        if len(shape) < 3:
            raise ValueError(f"POD outputs must have shape (N, c_out, *grid), got {shape}")
        return cls(in_channels, shape[1], shape[2:], n_modes, width, depth, activation,
                   pod_outputs=outputs, key=key, dtype=dtype)

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        """The output fields on the input's own grid, ``(c_out, *grid)``."""
        coeffs = self._branch(x)
        if self.trunk is None:
            mean = jax.lax.stop_gradient(self.pod_mean)
            basis = jax.lax.stop_gradient(self.pod_basis)
            out = mean + jnp.einsum("cp,cpn->cn", coeffs, basis)
        else:
            out = jnp.einsum("cp,ncp->cn", coeffs, self._trunk(unit_grid(self.grid, self.bias.dtype)))
        return (out + self.bias[:, None]).reshape(self.out_channels, *self.grid)

    def query(self, x: Float[Array, "c_in *grid"], y: Float[Array, "n dim"]) -> Float[Array, "c_out n"]:
        """The output fields at points ``y`` of the unit box ``[0, 1]^dim``, ``(c_out, n)``."""
        if self.trunk is None:
            raise ValueError("DeepONet.query needs a trunk net; a POD trunk only predicts on the training grid "
                             f"{self.grid} (call the model instead)")
        if y.ndim != 2 or y.shape[1] != len(self.grid):
            raise ValueError(f"query points must have shape (n, {len(self.grid)}), got {y.shape}")
        out = jnp.einsum("cp,ncp->cn", self._branch(x), self._trunk(y))
        return out + self.bias[:, None]

    def _branch(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out p"]:
        expected = (self.in_channels, *self.grid)
        if x.shape != expected:
            raise ValueError(f"DeepONet input has shape {x.shape}, expected (c_in, *grid) = {expected}: the branch "
                             f"net reads {math.prod(expected)} sensor values; resample the input onto grid "
                             f"{self.grid} or build a model for the new grid")
        return self.branch(x.reshape(-1)).reshape(self.out_channels, self.p)

    def _trunk(self, y: Float[Array, "n dim"]) -> Float[Array, "n c_out p"]:
        # centred coordinates: a tanh trunk learns oscillating basis functions markedly faster
        t = ACTIVATIONS[self.activation](jax.vmap(self.trunk)(2 * y - 1))
        return t.reshape(y.shape[0], self.out_channels, self.p)


def _pod(outputs: ArrayLike, grid: tuple[int, ...], n_modes: int, dtype) -> tuple[Array, Array]:
    """Per-channel mean ``(c_out, points)`` and POD modes ``(c_out, n_modes, points)``.

    Computed in ``dtype`` with plain JAX (no NumPy), so a POD model can be built under
    ``jax.eval_shape``.
    """
    outputs = jnp.asarray(outputs, dtype)
    if outputs.ndim != 2 + len(grid) or outputs.shape[2:] != grid:
        raise ValueError(f"POD outputs must have shape (N, c_out, *grid) = (N, c_out, {', '.join(map(str, grid))}), "
                         f"got {outputs.shape}")
    n_samples, c_out = outputs.shape[:2]
    points = math.prod(grid)
    if not 1 <= n_modes <= min(n_samples, points):
        raise ValueError(f"n_modes = {n_modes} must be in 1..min(N, points) = {min(n_samples, points)}")
    flat = outputs.reshape(n_samples, c_out, points).transpose(1, 0, 2)  # (c_out, N, points)
    mean = flat.mean(axis=1)
    _, _, vt = jnp.linalg.svd(flat - mean[:, None], full_matrices=False)
    # rows of vt are Euclidean-orthonormal; sqrt(points) makes mean(phi_j phi_k) = delta_jk
    return mean, vt[:, :n_modes] * math.sqrt(points)


@MODELS.register("deeponet")
def deeponet(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, grid: list[int], p: int = 32,
             width: int = 64, depth: int = 3,
             activation: Literal["tanh", "sin", "gelu", "silu", "softplus"] = "tanh") -> DeepONet:
    """DeepONet (unstacked branch/trunk MLPs) on a fixed sensor grid; a POD trunk is built from the Python API."""
    return DeepONet(in_size, out_size, grid, p, width, depth, activation, key=key, dtype=dtype)
