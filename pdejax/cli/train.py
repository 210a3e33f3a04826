"""``pdejax train``: a config to a run directory, on one process or several."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from .._signals import ignore_stop_signals
from ..config.errors import ConfigError
from ._common import add_import


def register(sub) -> None:
    t = sub.add_parser("train", help="train from a YAML config", description=(
        "Train from CONFIG (a YAML file or a shipped config such as pinn/burgers.yaml, see pdejax configs) "
        "with optional key.sub=value overrides; writes a run directory "
        "(config.yaml, metrics.jsonl, checkpoints/, model/, plots/, summary.json, tensorboard/ and, with the "
        "mlflow logger, mlflow.json)."))
    t.add_argument("config", nargs="?", help="YAML config or shipped config name (optional with --resume)")
    t.add_argument("overrides", nargs="*", help="key.sub=value overrides")
    t.add_argument("--run-dir", help="write the run exactly here (new or empty directory)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its latest checkpoint")
    t.add_argument("--restart", action="store_true",
                   help="with --resume, start a run that has no checkpoint again from step 0 "
                   "(its old metrics are kept as metrics.<timestamp>.jsonl)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    m = t.add_argument_group("multi-process runs", (
        "Start this command once per process, with the same arguments and --run-dir, and each process's "
        "--process-id; under SLURM (srun) or Open MPI (mpirun) the processes are detected without these "
        "options. The config keys distributed.coordinator, distributed.num_processes and "
        "distributed.process_id do the same."))
    m.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0 and a free port on it")
    m.add_argument("--num-processes", type=int, metavar="N", help="the number of processes of the run")
    m.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0 .. N-1")
    t.add_argument("--cpu-devices", type=int, metavar="N", help=(
        "split this machine's CPU into N JAX devices of one thread each, so data-parallel training uses N "
        "cores (results are deterministic for a given device count, and differ slightly between counts); "
        "set before JAX starts, for this command only"))
    add_import(t)
    t.set_defaults(handler=run, takes_overrides=True, own_imports=True)


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .. import experiment
    from ..training import Interrupted, NonFiniteLoss

    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config:  # `pdejax train --resume DIR key=value`
        overrides.insert(0, config)
        config = None
    if config is None and args.resume is None:
        raise ConfigError("config", None, "a YAML config path (or --resume RUN_DIR)")
    from ..config.plugins import resolve_imports

    imports = resolve_imports(args.imports)
    _start_devices(args, config, overrides, imports)
    # CONFIG may name a shipped config, and entry points and imports are loaded, in load_config.
    try:  # --import paths are relative to the cwd: absolute, so the run's config.yaml holds them
        run = experiment.train(config, overrides, run_dir=args.run_dir, resume=args.resume, restart=args.restart,
                               progress=False if args.no_progress else None, imports=imports)
    except NonFiniteLoss as err:
        print(f"pdejax: error: {err}", file=sys.stderr)
        return 3
    except Interrupted as err:
        ignore_stop_signals()
        where = getattr(err, "directory", None) or "<run dir>"
        print(f"pdejax: {err}. Continue with: pdejax train --resume {where}", file=sys.stderr)
        return 128 + err.signum
    s = run.summary
    bad = {k: v for k, v in s.get("metrics", {}).items() if not math.isfinite(v)}
    if bad:  # a run that evaluates to nan has not learnt anything: not a success
        name, value = next(iter(bad.items()))
        print(f"pdejax: error: the evaluation metric {name} of {run.directory} is {value} (non-finite); "
              "is the data or the model diverging?", file=sys.stderr)
        return 3
    metrics = ", ".join(f"{k} = {v:.3e}" for k, v in s.get("metrics", {}).items())
    print(f"run: {run.directory}\nsteps: {s['steps']}, wall: {s['wall_s']:.1f} s "
          f"(compile {s['compile_s']:.1f} s){', ' + metrics if metrics else ''}")
    return 0


def _start_devices(args: argparse.Namespace, config: str | None, overrides: list[str], imports: list[str]) -> None:
    """``--cpu-devices`` and the multi-process start, before JAX's backend starts."""
    import os

    from jax._src import xla_bridge

    if args.cpu_devices is not None:
        if args.cpu_devices < 1:
            raise ConfigError("--cpu-devices", args.cpu_devices, "a positive number of CPU devices")
        import jax

        if xla_bridge.backends_are_initialized():  # in-process use of main() after JAX started
            if jax.local_device_count() == args.cpu_devices and jax.local_devices()[0].platform == "cpu":
                return _start_processes(args, config, overrides, imports)
            raise ConfigError("--cpu-devices", args.cpu_devices, "a fresh process (JAX's devices already exist: "
                              f"{jax.local_device_count()} {jax.local_devices()[0].platform} devices)")
        # One device per core, each computing on one thread: Eigen's own thread pool would
        # have each device's matrix products compete for every core.
        jax.config.update("jax_num_cpu_devices", args.cpu_devices)
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    _start_processes(args, config, overrides, imports)


def _start_processes(args: argparse.Namespace, config: str | None, overrides: list[str], imports: list[str]) -> None:
    cli = {"coordinator": args.coordinator, "num_processes": args.num_processes, "process_id": args.process_id}
    from ..parallel.distributed import check_settings, detect_cluster, initialize

    if any(v is not None for v in cli.values()):
        check_settings(**cli, keys={"coordinator": "--coordinator", "num_processes": "--num-processes",
                                    "process_id": "--process-id"})
    from ..config.loading import load_config

    # The distributed keys (and timeouts) may come from the config and its overrides.
    source = config if config is not None else Path(args.resume or ".") / "config.yaml"
    if config is None and not source.is_file():
        return  # train() explains what is missing
    settings = load_config(source, overrides, imports=imports).distributed
    if all(v is None for v in cli.values()):
        cli = {"coordinator": settings.coordinator, "num_processes": settings.num_processes,
               "process_id": settings.process_id}
    if cli["coordinator"] is None and detect_cluster() is None:
        return
    initialize(**cli, initialization_timeout=settings.initialization_timeout,
               heartbeat_timeout=settings.heartbeat_timeout)
