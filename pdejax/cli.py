"""Command line: ``pdejax train | list | check | eval | data | configs``.

``--import MODULE_OR_FILE`` (repeatable) imports a user's module or ``.py`` file before
names are looked up, and installed ``pdejax.plugins`` entry points are always loaded, so
user PDEs, models, samplers, generators and method families work in every command.
Config arguments are file paths or names of shipped configs (``pdejax configs``).

Exit statuses:

- 0: done.
- 2: bad input (a one-paragraph message naming the key or file), or the run directory
  or output file is in use by another pdejax process (the message names its pid, host
  and start; a lock left by a process that no longer exists is taken over).
- 3: a non-finite loss, or a non-finite evaluation metric at the end of a run.
- 74 (``EX_IOERR``): the environment failed a read or write (disk full, file-size
  limit, I/O error); the message names the file. A path that cannot be used at all
  (under a file, not permitted) is bad input: 2.
- 75 (``EX_TEMPFAIL``): another process of a multi-process run died (or its host); this
  one stopped too (within ``distributed.heartbeat_timeout`` seconds). Resume the run.
  (Process 0 dying ends the others at once through JAX's own abort: 134.)
- 130 / 143: SIGINT / SIGTERM. Training saves a checkpoint and can be resumed;
  ``data generate`` keeps the finished chunks. A new run interrupted before its first
  checkpoint leaves nothing behind (the same ``--run-dir`` works again). Further signals
  while stopping are ignored, so the process ends quietly.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ._os_errors import describe as describe_os_error
from ._os_errors import os_error_in
from ._signals import catch_signals, ignore_stop_signals, quiet_exit
from .config.errors import ConfigError


def _add_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE_OR_FILE",
                        help="import a module (my_lab.pdes) or a .py file first, so the names it registers "
                             "are known (repeatable)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdejax", description="Solve and learn PDEs in JAX.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train from a YAML config", description=(
        "Train from CONFIG (a YAML file or a shipped config such as pinn/burgers.yaml, see pdejax configs) "
        "with optional key.sub=value overrides; writes a run directory "
        "(config.yaml, metrics.jsonl, checkpoints/, plots/, summary.json)."))
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
    _add_import(t)
    ls = sub.add_parser("list", help="registered PDEs, models, optimizers, samplers, schedules")
    _add_import(ls)
    c = sub.add_parser("check", help="autodiff vs spectral consistency of a registered PDE", description=(
        "Evaluate the PDE's right-hand side on a smooth random periodic field by forward-mode "
        "autodiff at points and by FFT on a grid (float64); exit 1 if they disagree."))
    c.add_argument("pde", help="registered PDE name (see pdejax list)")
    c.add_argument("params", nargs="*", help="PDE parameters, name=value")
    c.add_argument("--size", type=int, default=32, help="grid points per axis")
    c.add_argument("--seed", type=int, default=0)
    _add_import(c)
    e = sub.add_parser("eval", help="print a run's summary metrics as JSON")
    e.add_argument("run_dir")
    _add_import(e)
    d = sub.add_parser("data", help="generate and inspect HDF5 datasets (PDEBench layout)")
    dsub = d.add_subparsers(dest="data_command", required=True)
    g = dsub.add_parser("generate", help="generate a dataset from a YAML config", description=(
        "Generate the dataset of CONFIG (with key.sub=value overrides) into FILE.h5, chunk by chunk. "
        "Rerunning the same command on an unfinished file resumes it."))
    g.add_argument("config", help="data config YAML or shipped config name (e.g. data/heat.yaml)")
    g.add_argument("overrides", nargs="*", help="key.sub=value overrides")
    g.add_argument("--out", required=True, metavar="FILE.h5", help="the HDF5 file to write or resume")
    g.add_argument("--overwrite", action="store_true", help="replace FILE.h5 instead of resuming it")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_import(g)
    i = dsub.add_parser("info", help="shapes, coordinates and attributes of a dataset file as JSON")
    i.add_argument("file")
    _add_import(i)
    _add_import(dsub.add_parser("list", help="registered dataset generators"))
    cf = sub.add_parser("configs", help="list the shipped configs, or copy one to edit", description=(
        "Without arguments (or with list): the shipped configs, which every command also accepts by name. "
        "configs copy NAME DEST: copy one to DEST (a directory or a new file)."))
    csub = cf.add_subparsers(dest="configs_command")
    csub.add_parser("list", help="the shipped configs (the default)")
    cp = csub.add_parser("copy", help="copy a shipped config to edit it")
    cp.add_argument("name", help="shipped config, e.g. pinn/burgers.yaml")
    cp.add_argument("dest", help="directory or new file path")
    return p


def _load_extensions(imports: Sequence[str]) -> None:
    """Installed plug-ins, then ``--import`` modules and files (relative to the cwd)."""
    from .config.plugins import import_extensions, load_entry_points

    load_entry_points()
    import_extensions(imports, where="--import")


def _train(args: argparse.Namespace) -> int:
    from . import experiment
    from .training import Interrupted, NonFiniteLoss

    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config:  # `pdejax train --resume DIR key=value`
        overrides.insert(0, config)
        config = None
    if config is None and args.resume is None:
        raise ConfigError("config", None, "a YAML config path (or --resume RUN_DIR)")
    from .config.plugins import resolve_imports

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
    from .parallel.distributed import check_settings, detect_cluster, initialize

    if any(v is not None for v in cli.values()):
        check_settings(**cli, keys={"coordinator": "--coordinator", "num_processes": "--num-processes",
                                    "process_id": "--process-id"})
    from .config.loading import load_config

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


def _list() -> int:
    from .data.systems import SYSTEMS
    from .dynamics import DYNAMICS
    from .methods import FAMILIES
    from .models import MODELS
    from .pde import PDES
    from .sampling import SAMPLERS
    from .training import COMBINERS, OPTIMIZERS, SCHEDULES

    for title, entries in (("PDEs", PDES.describe()), ("models", MODELS.describe()),
                           ("dynamics models (objective.name: dynamics)", DYNAMICS.describe()),
                           ("trajectory systems (objective.data.system)", SYSTEMS.describe()),
                           ("samplers", SAMPLERS.describe()),
                           ("gradient combiners (optimizer.combine.name)", COMBINERS.describe())):
        print(f"{title}:")
        for name, doc in entries.items():
            print(f"  {name:<12} {doc}")
    print("optimizers (optax; plus lbfgs as a phase):\n  " + ", ".join(sorted(OPTIMIZERS)))
    print("learning-rate schedules (optax):\n  " + ", ".join(sorted(SCHEDULES)))
    print("method families (objective.name):\n  " + ", ".join(sorted(FAMILIES)))
    return 0


def _check(args: argparse.Namespace) -> int:
    import jax

    from .config.loading import merge_overrides
    from .pde import PDES, check_consistency

    params = merge_overrides({}, args.params) if args.params else {}
    with jax.enable_x64(True):  # this thread only: the process-wide setting is left alone
        pde = PDES.build(args.pde, params, where="pde")
        report = check_consistency(pde, size=args.size, seed=args.seed)
    print(json.dumps(report.as_dict(), indent=2))
    if not report.ok:
        print(f"pdejax: {args.pde}: autodiff and spectral right-hand sides differ by {report.max_abs_diff:.3e} "
              "(a term that is not pointwise, or derivatives named inconsistently?)", file=sys.stderr)
    return 0 if report.ok else 1


def _eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    path = Path(args.run_dir) / "summary.json"
    if not path.is_file():
        raise ConfigError("run_dir", args.run_dir, "a finished run directory (with summary.json)")
    summary = json.loads(path.read_text())
    print(json.dumps({"run": args.run_dir, "steps": summary["steps"], **summary["metrics"]}, indent=2))
    return 0


def _configs(args: argparse.Namespace) -> int:
    from .config.paths import copy_config, describe_configs

    if args.configs_command == "copy":
        print(copy_config(args.name, args.dest))
        return 0
    entries = describe_configs()
    width = max(map(len, entries), default=0)
    for name, summary in entries.items():
        print(f"{name:<{width}}  {summary}")
    return 0


def _data(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.data_command == "info":
        from .data import describe_file

        print(json.dumps(describe_file(args.file), indent=2, default=str))
        return 0
    if args.data_command == "list":
        from .data import GENERATORS

        for name, doc in GENERATORS.describe().items():
            print(f"  {name:<12} {doc}")
        return 0
    return _data_generate(args, argv)


def _data_generate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import shlex

    from .data.config import load_data_config

    config = load_data_config(args.config, args.overrides)  # bad keys fail before JAX starts
    import contextlib

    import jax

    from .data import generate

    class Stop(Exception):
        pass

    def stop_if_signalled(index: int) -> None:
        if received:  # polled after each chunk is on disk: the file is always consistent
            raise Stop

    # Rerunning this command (without --overwrite) resumes: the file records it for the hint.
    command = "pdejax " + " ".join(shlex.quote(a) for a in argv if a != "--overwrite")
    # Solvers in float64 need x64 on; enable_x64 sets it for this (the main) thread only.
    float64 = config.generator.args.get("precision") == "float64"
    with catch_signals() as received, jax.enable_x64(True) if float64 else contextlib.nullcontext():
        try:
            report = generate(config, args.out, progress=False if args.no_progress else None,
                              overwrite=args.overwrite, command=command, on_chunk=stop_if_signalled)
        except Stop:
            report = None
    if report is None or received:
        print(f"pdejax: interrupted; finished chunks are saved in {args.out}. "
              f"Continue with: {command}", file=sys.stderr)
        return 128 + received[0]
    skipped = report.n_chunks - len(report.computed)
    print(f"dataset: {report.path}\nsamples: {report.n_samples} in {report.n_chunks} chunks "
          f"({len(report.computed)} computed, {skipped} already on disk), wall: {report.wall_s:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    if argv is None:  # a process of its own (not a caller's in-process use): see quiet_exit
        quiet_exit()
        if hasattr(signal, "SIGXFSZ"):  # past a file-size limit: an OSError (EFBIG) we report, not a kill
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    # Overrides may also follow options: `pdejax train CFG --run-dir D key=value`.
    takes_overrides = args.command == "train" or getattr(args, "data_command", None) == "generate"
    stray = [e for e in extra if e.startswith("-") or "=" not in e or not takes_overrides]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = list(args.overrides) + extra
    try:
        if args.command == "configs":
            return _configs(args)
        if args.command != "train":  # train passes its imports to load_config, with the config's own
            _load_extensions(args.imports)
        if args.command == "train":
            return _train(args)
        if args.command == "list":
            return _list()
        if args.command == "check":
            return _check(args)
        if args.command == "data":
            return _data(args, argv)
        return _eval(args)
    except ConfigError as err:
        print(f"pdejax: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # an OSError, or a library's error wrapping one (orbax's writes)
        os_error = os_error_in(err)
        if os_error is None:
            raise
        status, message = describe_os_error(os_error)
        print(f"pdejax: error: {message}", file=sys.stderr)
        return status
    except KeyboardInterrupt as err:  # before training or generation started (else: Interrupted)
        ignore_stop_signals()
        print("pdejax: interrupted; nothing was left half-written", file=sys.stderr)
        return 128 + getattr(err, "signum", signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
