"""Your own training loop around pdejax's public step: the Burgers PINN, Adam phase.

    python scripts/custom_loop.py [--steps 3000] [--check]

``--check`` also trains with ``pdejax.training.fit`` and compares bitwise.
"""

import argparse

import equinox as eqx
import jax
import numpy as np

import pdejax
from pdejax.training import fit, make_step

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=3000)
ap.add_argument("--check", action="store_true")
args = ap.parse_args()
exp = pdejax.build("pinn/burgers.yaml", [f"train.steps={args.steps}", "lbfgs.steps=0"])  # the shipped config
m, adam = exp.method, exp.phases[0].optimizer
step = make_step(m.objective, adam, exp.mesh, combiner=exp.combiner, source=m.source)
state = step.init(m.model, jax.random.PRNGKey(exp.config.seed))
for i in range(0, args.steps, 100):
    state, logs = step(state, n=100)                       # 100 steps per compiled call
    print(f"step {i + 100:5d}  loss {logs['loss'][-1]:.3e}")
model = step.evaluation_model(state)
print("rel_l2 =", m.evaluator(model)["rel_l2"])
if args.check:
    ref = fit(m.model, m.objective, m.source, exp.phases, combiner=exp.combiner, seed=exp.config.seed,
              steps_per_call=100, mesh=exp.mesh, progress=False).model
    same = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(eqx.filter(model, eqx.is_array)),
                                                    jax.tree.leaves(eqx.filter(ref, eqx.is_array))))
    print("bitwise identical to fit:", same)
