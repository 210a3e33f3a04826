"""``pdejax list | check | eval | configs``: what is registered, shipped and measured."""

from __future__ import annotations

import argparse
import json
import sys

from ..config.errors import ConfigError
from ._common import add_import


def register(sub) -> None:
    ls = sub.add_parser("list", help="registered PDEs, models, optimizers, samplers, schedules")
    add_import(ls)
    ls.set_defaults(handler=lambda args, argv: _list())
    c = sub.add_parser("check", help="autodiff vs spectral consistency of a registered PDE", description=(
        "Evaluate the PDE's right-hand side on a smooth random periodic field by forward-mode "
        "autodiff at points and by FFT on a grid (float64); exit 1 if they disagree."))
    c.add_argument("pde", help="registered PDE name (see pdejax list)")
    c.add_argument("params", nargs="*", help="PDE parameters, name=value")
    c.add_argument("--size", type=int, default=32, help="grid points per axis")
    c.add_argument("--seed", type=int, default=0)
    add_import(c)
    c.set_defaults(handler=lambda args, argv: _check(args))
    e = sub.add_parser("eval", help="print a run's summary metrics as JSON")
    e.add_argument("run_dir")
    add_import(e)
    e.set_defaults(handler=lambda args, argv: _eval(args))
    cf = sub.add_parser("configs", help="list the shipped configs, or copy one to edit", description=(
        "Without arguments (or with list): the shipped configs, which every command also accepts by name. "
        "configs copy NAME DEST: copy one to DEST (a directory or a new file)."))
    csub = cf.add_subparsers(dest="configs_command")
    csub.add_parser("list", help="the shipped configs (the default)")
    cp = csub.add_parser("copy", help="copy a shipped config to edit it")
    cp.add_argument("name", help="shipped config, e.g. pinn/burgers.yaml")
    cp.add_argument("dest", help="directory or new file path")
    cf.set_defaults(handler=lambda args, argv: _configs(args), own_imports=True)


def _list() -> int:
    from ..data.systems import SYSTEMS
    from ..dynamics import DYNAMICS
    from ..methods import FAMILIES
    from ..models import MODELS
    from ..pde import PDES
    from ..sampling import SAMPLERS
    from ..training import COMBINERS, OPTIMIZERS, SCHEDULES

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

    from ..config.loading import merge_overrides
    from ..pde import PDES, check_consistency

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
    from ..config.paths import copy_config, describe_configs

    if args.configs_command == "copy":
        print(copy_config(args.name, args.dest))
        return 0
    entries = describe_configs()
    width = max(map(len, entries), default=0)
    for name, summary in entries.items():
        print(f"{name:<{width}}  {summary}")
    return 0
