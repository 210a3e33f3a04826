"""``pdejax plot | compare``: looking at finished (or running) run directories."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._common import add_import


def register(sub) -> None:
    p = sub.add_parser("plot", help="draw a run's plots again (loss curves, metrics, predictions)", description=(
        "Redraw RUN_DIR's loss curves from metrics.jsonl, a curve per --metric, and (for a finished run) the "
        "prediction / reference / error pictures of its last checkpoint, evaluated in the run's dtype. "
        "Writes into RUN_DIR/plots unless --out is given."))
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of pdejax train")
    p.add_argument("--metric", action="append", default=[], metavar="KEY",
                   help="also draw KEY (e.g. rel_l2, lr, a loss term) against step as metric_KEY.png (repeatable)")
    p.add_argument("--out", metavar="DIR", help="write the pictures here instead of RUN_DIR/plots")
    p.add_argument("--curves-only", action="store_true",
                   help="only the curves of metrics.jsonl (no model is loaded or evaluated)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar while evaluating")
    add_import(p)
    p.set_defaults(handler=run, runs_command="plot")
    c = sub.add_parser("compare", help="compare runs: config differences, metrics, curves on one figure",
                       description=(
        "Print a table of the config keys whose values differ between the runs and each run's summary "
        "metrics (the latest logged ones for an unfinished run), and draw every run's loss and evaluation "
        "curves against step on one figure."))
    c.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories of pdejax train")
    c.add_argument("--format", choices=("text", "markdown", "csv"), default="text", help="the table's format")
    c.add_argument("--metric", action="append", default=None, metavar="KEY",
                   help="the metric(s) to show and draw (repeatable; default: every evaluation metric in the "
                        "table, rel_l2 on the figure)")
    c.add_argument("--out", default="compare.png", metavar="FILE.png",
                   help="the figure (default: compare.png; a directory: compare.png in it)")
    c.add_argument("--no-plot", action="store_true", help="the table only")
    add_import(c)
    c.set_defaults(handler=run, runs_command="compare")


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    return _plot(args) if args.runs_command == "plot" else _compare(args)


def _plot(args: argparse.Namespace) -> int:
    from ..experiment import redraw_plots

    result = redraw_plots(args.run_dir, metrics=args.metric, out=args.out, predictions=not args.curves_only,
                          progress=False if args.no_progress else None, imports=args.imports)
    for note in result.notes:
        print(f"pdejax: {note}", file=sys.stderr)
    for path in result.paths:
        print(path)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ..experiment import compare_runs

    comparison = compare_runs(args.run_dirs, metrics=args.metric)
    sys.stdout.write(comparison.table(args.format))
    if not comparison.differing and len(comparison.runs) > 1:
        print("pdejax: the runs' configs are the same (name aside)", file=sys.stderr)
    if not args.no_plot:
        out = Path(args.out)
        if out.is_dir():
            out = out / "compare.png"
        print(f"pdejax: figure: {comparison.plot(out, metric_keys=args.metric)}", file=sys.stderr)
    return 0
