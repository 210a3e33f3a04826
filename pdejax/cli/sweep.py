"""``pdejax sweep``: a hyperparameter search over runs of one config, in an Optuna study database."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from .._signals import ignore_stop_signals
from ..config.errors import ConfigError
from ._common import add_import


def register(sub) -> None:
    s = sub.add_parser("sweep", help="hyperparameter search (Optuna) over runs of a config", description=(
        "Train CONFIG (with optional key.sub=value overrides) once per trial, in sweeps/<study>/trial-<number>/, "
        "with the --param values Optuna samples (or every --grid combination), until the study holds --trials "
        "finished trials. The study lives in a database (default sqlite:///sweeps/<study>/study.db): start the "
        "same command in several processes or machines (with a --storage URL they all reach) and they share "
        "it; run it again after an interruption and it continues. A trial whose worker died is failed after "
        "two missed heartbeats and run again by another worker. --report prints the best trials and writes "
        "plots/history.png and plots/importance.png."))
    s.add_argument("config", nargs="?", help="YAML config or shipped config name (optional with --report)")
    s.add_argument("overrides", nargs="*", help="key.sub=value overrides for every trial")
    s.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=SPACE", help=(
        "a swept key and its space: loguniform(1e-4,1e-2), uniform(0,1), int(2,8), int(16,256,log), "
        "choice(tanh,gelu) (repeatable)"))
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...", help=(
        "instead of --param: run every combination of these values once (repeatable)"))
    s.add_argument("--trials", metavar="N", help=(
        "the study's total of finished (complete or pruned) trials, shared by all workers "
        "(default: the grid's size, or 20)"))
    s.add_argument("--study", metavar="NAME", help="the study's name (default: the config's name)")
    s.add_argument("--storage", metavar="URL", help=(
        "SQLAlchemy database URL, e.g. postgresql://user:password@host/db for several machines "
        "(default sqlite:///sweeps/<study>/study.db)"))
    s.add_argument("--dir", metavar="DIR", help="where the trials' run directories go (default sweeps/<study>)")
    s.add_argument("--objective", default="rel_l2", metavar="KEY", help=(
        "the summary.json key to optimise, e.g. rel_l2 or final.loss (default rel_l2)"))
    s.add_argument("--direction", default="minimize", metavar="minimize|maximize", help="default minimize")
    s.add_argument("--sampler", metavar="tpe|random", help="how --param values are drawn (default tpe)")
    s.add_argument("--pruner", metavar="NAME", help=(
        "median (default with --param), percentile, hyperband, successive-halving or none (default with --grid): "
        "stops trials whose objective at an evaluation is worse than the others'"))
    s.add_argument("--heartbeat", default="60", metavar="SECONDS", help=(
        "a running trial's heartbeat interval; silent for twice as long, it counts as dead (default 60)"))
    s.add_argument("--report", action="store_true", help="print the best trials and write the plots; train nothing")
    s.add_argument("--top", default="10", metavar="K", help="with --report: how many trials to list (default 10)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_import(s)
    s.set_defaults(handler=run, takes_overrides=True, own_imports=True)


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from ..config.plugins import resolve_imports
    from ..experiment import sweep
    from ..training import Interrupted

    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and args.report:
        overrides.insert(0, config)
        config = None
    if args.report:
        return _report(args, config, overrides)
    if config is None:
        raise ConfigError("config", None, "a YAML config path or shipped config name (or --report)")
    try:
        result = sweep(config, overrides, params=args.params, grid=args.grid, trials=_int(args.trials, "--trials"),
                       study=args.study, storage=args.storage, directory=args.dir, objective=args.objective,
                       direction=args.direction, sampler=args.sampler, pruner=args.pruner,
                       heartbeat=_int(args.heartbeat, "--heartbeat"), imports=resolve_imports(args.imports),
                       progress=False if args.no_progress else None)
    except (Interrupted, KeyboardInterrupt) as err:
        ignore_stop_signals()
        signum = getattr(err, "signum", signal.SIGINT)
        print(f"pdejax: sweep stopped by {signal.Signals(signum).name}; run the same command again to continue "
              "the study", file=sys.stderr)
        return 128 + signum
    print(_closing(result, args))
    return 0


def _report(args: argparse.Namespace, config: str | None, overrides: list[str]) -> int:
    from ..experiment import report

    study = args.study
    if study is None and config is not None:
        from ..config.loading import config_data

        study = str(config_data(config, overrides).get("name"))
    print(report(study, storage=args.storage, directory=args.dir, top=_int(args.top, "--top")).text)
    return 0


def _closing(result, args: argparse.Namespace) -> str:
    """The sweep's last lines: the study's tally, its best trial, the report command."""
    from optuna.trial import TrialState

    from ..experiment.sweep_spaces import count
    from ..experiment.sweep_study import display_url

    trials = result.study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = sum(t.state == TrialState.PRUNED for t in trials)
    lines = [f"study {result.study.study_name}: {count(len(complete) + pruned, 'finished trial')} ({pruned} pruned), "
             f"{len(result.ran)} run here; database {display_url(result.storage)}"]
    if complete:
        best = result.study.best_trial
        from ..experiment.sweep_spaces import describe

        lines.append(f"best: trial {best.number}, {args.objective} = {best.value:.4g} ({describe(best.params)}) "
                     f"in {best.user_attrs.get('run_dir', '?')}")
    storage = f" --storage {args.storage}" if args.storage else ""
    lines.append(f"report: pdejax sweep --report --study {result.study.study_name}{storage}")
    return "\n".join(lines)


def _int(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(flag, text, "a whole number") from None
