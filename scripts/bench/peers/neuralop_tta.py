"""Peer benchmark: neuraloperator's FNO trained to a target test error with its own ``Trainer``.

Half of ``scripts/bench/fno_time_to_accuracy.py``: reads the same pdejax HDF5 file
(``tensor`` of shape ``(sample, t, x)``; input frame 0, target frame -1; the first
``--n-test`` samples are the test set, the next ``--n-train`` the training set, as
pdejax's operator views split it), wraps the arrays in neuraloperator's ``TensorDataset``
and torch ``DataLoader`` (shuffled training batches, as its Burgers example does), and
trains ``neuralop.models.FNO`` with ``neuralop.training.Trainer``: ``torch.optim.AdamW``
(the same decoupled weight decay as optax's ``adamw``), ``StepLR`` stepped once per epoch
by the Trainer, ``LpLoss(d=1, p=2)`` (relative L2 summed over the batch, as the Trainer
expects; Adam makes the sum and pdejax's batch mean the same up to epsilon) and the same
loss on the test set after every epoch (``eval_interval=1``: the per-sample mean).

The Trainer has no stopping criterion, so its ``evaluate_all`` is wrapped: after each
evaluation it records the wall-clock time since ``Trainer.train`` was called and the
test error, and stops training once the error is at most ``--target`` or ``--time-limit``
seconds have passed. Prints one JSON object on stdout. Usage::

    python scripts/bench/peers/neuralop_tta.py --data burgers.h5 --n-modes 30 --width 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from _neuralop_meta import describe


class _Stop(Exception):
    pass


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--stride", type=int, default=1, help="keep every stride-th grid point")
    parser.add_argument("--n-modes", type=int, nargs="+", default=[30], help="neuraloperator's n_modes")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--lr-step-epochs", type=int, default=10, help="StepLR step_size, in epochs")
    parser.add_argument("--lr-gamma", type=float, default=0.5)
    parser.add_argument("--max-epochs", type=int, default=500)
    parser.add_argument("--target", type=float, default=2e-2)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds of training")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import h5py
    import torch
    from neuralop.data.datasets.tensor_dataset import TensorDataset
    from neuralop.losses import LpLoss
    from neuralop.models import FNO
    from neuralop.training import Trainer

    torch.set_num_threads(args.threads or os.cpu_count())
    torch.manual_seed(args.seed)
    start_load = time.perf_counter()
    with h5py.File(args.data, "r") as f:
        u = f["tensor"]
        rows = args.n_test + args.n_train
        x = torch.tensor(u[:rows, 0, :: args.stride]).unsqueeze(1)
        y = torch.tensor(u[:rows, -1, :: args.stride]).unsqueeze(1)
    load_s = time.perf_counter() - start_load
    train = TensorDataset(x[args.n_test:], y[args.n_test:])
    test = TensorDataset(x[: args.n_test], y[: args.n_test])
    train_loader = torch.utils.data.DataLoader(train, batch_size=args.batch, shuffle=True, drop_last=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=100, shuffle=False)

    model = FNO(n_modes=tuple(args.n_modes), in_channels=1, out_channels=1, hidden_channels=args.width,
                n_layers=args.n_layers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.lr_step_epochs, gamma=args.lr_gamma)
    loss = LpLoss(d=1, p=2, reduction="sum")
    curve: list[dict] = []
    steps_per_epoch = len(train_loader)

    class TimedTrainer(Trainer):
        """neuraloperator's Trainer, stopped at the target error or the time limit."""

        def evaluate_all(self, epoch, eval_losses, test_loaders, eval_modes, max_autoregressive_steps=None):
            metrics = super().evaluate_all(epoch, eval_losses, test_loaders, eval_modes, max_autoregressive_steps)
            error = float(metrics["test_l2"])
            curve.append({"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch,
                          "wall_s": time.perf_counter() - t0, "test_rel_l2": error,
                          "lr": self.optimizer.param_groups[0]["lr"]})
            if error <= args.target or curve[-1]["wall_s"] > args.time_limit:
                raise _Stop
            return metrics

    trainer = TimedTrainer(model=model, n_epochs=args.max_epochs, device="cpu", eval_interval=1, verbose=False)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    try:
        trainer.train(train_loader, {"test": test_loader}, optimizer, scheduler, training_loss=loss,
                      eval_losses={"l2": loss})
    except _Stop:
        pass
    wall = time.perf_counter() - t0
    reached = [c for c in curve if c["test_rel_l2"] <= args.target]
    result = {
        "library": "neuraloperator",
        **describe(model, args.n_modes),
        "grid": int(x.shape[-1]),
        "steps_per_epoch": steps_per_epoch,
        "target": args.target,
        "time_to_target_s": reached[0]["wall_s"] if reached else None,
        "steps_to_target": reached[0]["step"] if reached else None,
        "best_test_rel_l2": min((c["test_rel_l2"] for c in curve), default=None),
        "wall_s": wall,
        "data_load_s": load_s,
        "curve": curve,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
