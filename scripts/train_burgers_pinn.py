"""Train the Burgers PINN from Python, piece by piece (no config file, no CLI).

    python scripts/train_burgers_pinn.py [--steps 3000] [--lbfgs 8000]
"""

import argparse

import jax
import jax.numpy as jnp
import optax

from pdejax.methods.pinn import ExactSolutionEvaluator, evaluation_grid
from pdejax.models import MLP
from pdejax.objectives import PINN, PINNField
from pdejax.pde import burgers
from pdejax.sampling import CollocationSource, Uniform
from pdejax.training import LBFGSPhase, OptaxPhase, fit

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=3000)
ap.add_argument("--lbfgs", type=int, default=8000)
args = ap.parse_args()

pde = burgers(nu=0.01 / jnp.pi)                                   # defined once, in pdejax.pde
points, shape = evaluation_grid(pde, {"x": (-1, 1, 256), "t": (0, 0.99, 100)})
evaluator = ExactSolutionEvaluator(pde, points, shape, jnp.float32)   # against Cole–Hopf
net = MLP(in_size=2, out_size=1, width=32, depth=4, key=jax.random.PRNGKey(0))
model = PINNField(net, pde, constraint="hard")                    # u = u0 + t (1 - x²) net
lo, hi = pde.domain.point_lower, pde.domain.point_upper
objective = PINN(pde)                                             # the residual loss
points = lambda n: CollocationSource(pde, Uniform(lo, hi, n))     # noqa: E731  (fresh points every step)
schedule = optax.exponential_decay(1e-3, transition_steps=1000, decay_rate=0.8)
phases = [OptaxPhase(args.steps, optax.adam(schedule), schedule),
          LBFGSPhase(args.lbfgs, memory_size=50, source=points(8192), resample_every=1000)]
result = fit(model, objective, points(4096), phases, evaluator=evaluator, steps_per_call=100, eval_every=1000)
print(f"rel_l2 = {result.metrics['rel_l2']:.2e} after {result.steps} steps in {result.wall_s:.0f} s")
u = jax.vmap(result.model)(jnp.array([[0.5, 0.5], [-0.5, 0.5]]))  # physical [x, t] -> u
print("u(±0.5, 0.5) =", u.ravel())
