"""Peer benchmark: neuraloperator's FNO (PyTorch, CPU), timed per training step.

One training step is what ``scripts/bench/fno.py`` times for pdejax: forward pass,
neuraloperator's own relative L2 loss (``LpLoss(d=dim, p=2, reduction="mean").rel``:
per-sample ``||pred - y|| / ||y||``, mean over the batch), backward pass and a
``torch.optim.Adam`` step, on a batch of random inputs and targets of shape
``(batch, 1, *grid)``.

The model is ``neuralop.models.FNO(n_modes, in_channels=1, out_channels=1,
hidden_channels=width, n_layers)`` with every other argument at its default (in 2.0.0:
a two-layer lifting and projection of hidden width ``2 * width``, a "grid" positional
embedding, per-block channel MLP of expansion 0.5 with a soft-gating skip, a linear
skip around each spectral convolution, GELU). ``n_modes`` is passed as given, so note
how neuraloperator counts modes: on the last (rfft) axis it keeps ``n // 2 + 1``
modes (``n_modes=16`` keeps 9), on other axes ``n`` frequencies centred on 0.

Timing: ``--warmup`` untimed steps, then ``--repeats`` timed blocks of ``--steps``
steps each (``time.perf_counter``; fewer steps if the blocks would take more than
``--max-seconds``); reports per-step milliseconds, median and best over blocks.
``torch.set_num_threads(os.cpu_count())`` unless ``--threads`` is given. On a busy
machine torch's threads wait on each other and a step can take 10-50 times longer
(the JSON records the load average): compare runs made on a quiet machine.

Prints one JSON object on stdout. Usage::

    pip install torch --index-url https://download.pytorch.org/whl/cpu
    pip install --no-deps neuraloperator==2.0.0 tensorly tensorly-torch
    python scripts/bench/peers/neuralop_fno.py --n-modes 30 --n-points 1024 --width 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

from _neuralop_meta import describe


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-modes", type=int, nargs="+", required=True, help="neuraloperator's n_modes")
    parser.add_argument("--n-points", type=int, nargs="+", required=True, help="grid points per axis")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-seconds", type=float, default=150.0,
                        help="fewer steps per block when the warm-up says the blocks would take longer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--serve", action="store_true",
                        help="after the warm-up print the metadata as one JSON line, then time one block of "
                             "--steps steps per 'block' line read on stdin (one JSON line each), until EOF: "
                             "lets scripts/bench/fno.py interleave this peer's blocks with its own")
    args = parser.parse_args(argv)

    import torch
    from neuralop.losses import LpLoss
    from neuralop.models import FNO

    torch.set_num_threads(args.threads or os.cpu_count())
    if args.threads == 1:  # the same CPU as scripts/bench/fno.py --threads 1
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    torch.manual_seed(args.seed)
    grid = tuple(args.n_points)
    if len(grid) == 1 and len(args.n_modes) > 1:
        grid = grid * len(args.n_modes)
    dim = len(args.n_modes)
    model = FNO(n_modes=tuple(args.n_modes), in_channels=1, out_channels=1, hidden_channels=args.width,
                n_layers=args.n_layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = LpLoss(d=dim, p=2, reduction="mean")
    x = torch.randn(args.batch, 1, *grid)
    y = torch.randn(args.batch, 1, *grid)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn.rel(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    warmup_s = (time.perf_counter() - start) / max(1, args.warmup)
    steps = max(1, min(args.steps, int(args.max_seconds / (warmup_s * args.repeats))))

    def block():
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            loss = step()
        loss = loss.item()
        return {"wall_ms": (time.perf_counter() - start) / steps * 1e3,
                "cpu_ms": (time.process_time() - start_cpu) / steps * 1e3, "loss": loss}

    meta = {
        "peer": "neuraloperator",
        **describe(model, args.n_modes),  # params: complex ones count twice, as pdejax stores them
        "grid": list(grid),
        "width": args.width,
        "n_layers": args.n_layers,
        "batch": args.batch,
        "params_torch_numel": sum(p.numel() for p in model.parameters()),
        "steps_per_repeat": steps,
        "warmup_ms_per_step": warmup_s * 1e3,
        "python": platform.python_version(),
    }
    if args.serve:
        print(json.dumps(meta), flush=True)
        for line in sys.stdin:
            if line.strip() == "block":
                print(json.dumps(block()), flush=True)
        return meta
    load_before = os.getloadavg()[0]
    blocks = [block() for _ in range(args.repeats)]
    per_step = [b["wall_ms"] for b in blocks]
    cpu = [b["cpu_ms"] for b in blocks]
    result = meta | {
        "ms_per_step_median": statistics.median(per_step),
        "ms_per_step_best": min(per_step),
        "ms_per_step_all": per_step,
        "cpu_ms_per_step_median": statistics.median(cpu),
        "final_loss": blocks[-1]["loss"],
        "loadavg_1m_before": load_before,
        "loadavg_1m_after": os.getloadavg()[0],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
