"""Peer benchmark: DeepXDE's own Burgers PINN example, timed per Adam iteration.

What it measures
----------------
The set-up of DeepXDE's example ``examples/pinn_forward/Burgers.py``, unchanged:

* geometry ``Interval(-1, 1) x TimeDomain(0, 0.99)``;
* PDE residual ``dy_t + y * dy_x - 0.01/pi * dy_xx`` (``dde.grad.jacobian`` /
  ``dde.grad.hessian``);
* ``DirichletBC`` y = 0 on the spatial boundary, ``IC`` y(x, 0) = -sin(pi x);
* ``dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=2540,
  num_boundary=80, num_initial=160)``;
* ``dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")``;
* ``model.compile("adam", lr=1e-3)``, float32 (DeepXDE's default).

The script first runs ``--warmup`` Adam iterations through ``model.train``
(not timed: first-call overheads, allocator warm-up, JIT compilation for the
JAX backend), then times one ``model.train(iterations=N)`` call with
``time.perf_counter`` and reports wall-clock milliseconds per iteration.
``display_every`` is set past the end of the run, so DeepXDE evaluates and
logs the losses only at the start and end of each ``train`` call (its fixed
behaviour: about four loss evaluations without backward pass per call, well
under 1% of a 2000-iteration run). Those evaluations are inside the timed
window, as they are for any user calling ``model.train``. No L-BFGS stage and
no test-set comparison are run: only the Adam loop is timed.

The backend is DeepXDE's usual ``DDE_BACKEND`` environment variable; this
script sets it to ``pytorch`` when it is unset. ``pytorch`` runs the example
as written. For ``jax`` the only change is the one DeepXDE's JAX backend
requires of every PDE function: ``y`` and the derivatives come as
``(array, function)`` tuples, so the residual takes their ``[0]`` entries.
(The upstream example does not list jax among its supported backends.)

Threads and machine load
------------------------
PyTorch uses ``torch.get_num_threads()`` intra-op threads (by default one
per core, so 2 on the project's 2-core machines), reported as ``threads``.
``--threads N`` overrides it. Run it on a quiet machine. When other processes
keep the cores busy, torch's OpenMP threads spin-wait on each other and the
time per iteration can grow by 10-50x. In one run with a load average of
about 5-6 on 2 cores, it took 520-550 ms/iter with 2 threads and 8-12 ms/iter
with ``--threads 1``. On the same machine when it was quiet, it took 5.0
ms/iter with 2 threads and 6.4 ms/iter with 1 thread. The JSON records the
1-minute load average just before and just after the timed run, so runs like
that can be spotted.

Output
------
Exactly one JSON object on one line on stdout, e.g.::

    {"peer": "deepxde", "deepxde_version": "1.15.0", "backend": "pytorch",
     "torch_version": "2.13.0+cpu", "threads": 2, "iterations": 2000,
     "warmup": 200, "ms_per_iter": 5.0, "cpu_ms_per_iter": 9.8,
     "final_train_loss": 0.077, "loadavg_1m_before": 0.97, ...}

Everything DeepXDE prints (backend banner, "Compiling model...", the loss
table) goes to stderr.

Setting up the interpreter
--------------------------
DeepXDE and its dependencies must NOT be installed into the project's Python
(they could replace the pinned jax / numpy). Use a separate venv::

    python3 -m venv /tmp/dde-venv
    /tmp/dde-venv/bin/pip install torch==2.13.0 deepxde

(On the project's machines torch 2.13.0 resolves to the local CPU wheel,
``torch-2.13.0+cpu``; check with ``pip install --dry-run`` that pip does not
pick a multi-GB CUDA build. If it would, install ``deepxde --no-deps`` plus
numpy, scipy, scikit-learn, scikit-optimize and matplotlib by hand.)

Optional JAX-backend venv::

    python3 -m venv /tmp/dde-jax-venv
    /tmp/dde-jax-venv/bin/pip install deepxde jax flax optax

Running it
----------
::

    /tmp/dde-venv/bin/python scripts/bench/peers/deepxde_burgers.py --iterations 1000
    DDE_BACKEND=jax /tmp/dde-jax-venv/bin/python scripts/bench/peers/deepxde_burgers.py

How our benchmark uses it
-------------------------
``scripts/bench/pinn_burgers.py`` runs this file as a subprocess with the
interpreter it is given (e.g. ``/tmp/dde-venv/bin/python``), reads the single
JSON line from stdout and merges it into its own report, so pdejax and
DeepXDE are measured in the same run on the same machine. The script imports
nothing from pdejax and needs nothing but the venv above.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time


def _parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Time DeepXDE's Burgers PINN example (Adam), per iteration."
    )
    p.add_argument("--iterations", type=int, default=2000,
                   help="timed Adam iterations (default 2000)")
    p.add_argument("--warmup", type=int, default=200,
                   help="untimed Adam iterations run first (default 200)")
    p.add_argument("--seed", type=int, default=0,
                   help="dde.config.set_random_seed value (default 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="pytorch only: torch.set_num_threads(N); "
                        "default leaves torch's own choice")
    args = p.parse_args(argv)
    if args.iterations < 1:
        p.error("--iterations must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    return args


def _loadavg_1m():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on every platform
        return None


def _build_model(dde, np, backend):
    """DeepXDE's examples/pinn_forward/Burgers.py, up to model.compile."""
    if backend == "jax":
        # DeepXDE's JAX backend passes (array, function) tuples.
        def pde(x, y):
            dy_x = dde.grad.jacobian(y, x, i=0, j=0)[0]
            dy_t = dde.grad.jacobian(y, x, i=0, j=1)[0]
            dy_xx = dde.grad.hessian(y, x, i=0, j=0)[0]
            return dy_t + y[0] * dy_x - 0.01 / np.pi * dy_xx
    else:
        def pde(x, y):
            dy_x = dde.grad.jacobian(y, x, i=0, j=0)
            dy_t = dde.grad.jacobian(y, x, i=0, j=1)
            dy_xx = dde.grad.hessian(y, x, i=0, j=0)
            return dy_t + y * dy_x - 0.01 / np.pi * dy_xx

    geom = dde.geometry.Interval(-1, 1)
    timedomain = dde.geometry.TimeDomain(0, 0.99)
    geomtime = dde.geometry.GeometryXTime(geom, timedomain)

    bc = dde.icbc.DirichletBC(
        geomtime, lambda x: 0, lambda _, on_boundary: on_boundary
    )
    ic = dde.icbc.IC(
        geomtime,
        lambda x: -np.sin(np.pi * x[:, 0:1]),
        lambda _, on_initial: on_initial,
    )

    data = dde.data.TimePDE(
        geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80, num_initial=160
    )
    net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=1e-3)
    return model


def main(argv=None) -> int:
    args = _parse_args(argv)
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    result = {"peer": "deepxde"}

    # Everything DeepXDE (or a backend) prints on stdout goes to stderr, so
    # stdout carries exactly one JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        import deepxde as dde
        import numpy as np

        backend = dde.backend.backend_name
        result["deepxde_version"] = dde.__version__
        result["backend"] = backend
        if backend == "pytorch":
            import torch

            if args.threads is not None:
                torch.set_num_threads(args.threads)
            result["torch_version"] = torch.__version__
            result["threads"] = torch.get_num_threads()
            result["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        elif backend == "jax":
            import jax

            result["jax_version"] = jax.__version__
            result["threads"] = None  # XLA's CPU thread pool; not settable here
            result["device"] = jax.default_backend()
        else:
            result["threads"] = None
        if args.threads is not None and backend != "pytorch":
            print(f"--threads ignored for backend {backend}", file=sys.stderr)

        dde.config.set_random_seed(args.seed)
        model = _build_model(dde, np, backend)

        # train_state.step keeps counting across train() calls, so a
        # display_every past the total step count logs only at the start and
        # end of each call.
        display_every = 10 * (args.warmup + args.iterations) + 1
        if args.warmup > 0:
            model.train(iterations=args.warmup, display_every=display_every)

        load_before = _loadavg_1m()
        t0 = time.perf_counter()
        c0 = time.process_time()
        model.train(iterations=args.iterations, display_every=display_every)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        load_after = _loadavg_1m()

        loss_terms = [float(v) for v in np.ravel(model.train_state.loss_train)]

    result.update(
        {
            "dtype": f"float{dde.config.real.precision}",
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            # 1-minute load average just before / after the timed run: other
            # busy processes on a 2-core box skew the timing badly (see
            # module docstring), and this makes such runs recognisable.
            "loadavg_1m_before": load_before,
            "loadavg_1m_after": load_after,
            "seed": args.seed,
            "warmup": args.warmup,
            "iterations": args.iterations,
            "total_s": elapsed,
            "ms_per_iter": 1e3 * elapsed / args.iterations,
            # CPU time of this process (all threads) per iteration. Well
            # below ms_per_iter means the process was starved by other load.
            "cpu_ms_per_iter": 1e3 * cpu / args.iterations,
            "final_train_loss": float(sum(loss_terms)),
            "final_train_loss_terms": loss_terms,  # [pde, bc, ic]
            "steps_total": int(model.train_state.step),
        }
    )
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
