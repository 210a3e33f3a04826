"""``pdejax data generate | info | list``: HDF5 datasets."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .._signals import catch_signals
from ._common import add_import


def register(sub) -> None:
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
    add_import(g)
    g.set_defaults(takes_overrides=True)
    i = dsub.add_parser("info", help="shapes, coordinates and attributes of a dataset file as JSON")
    i.add_argument("file")
    add_import(i)
    add_import(dsub.add_parser("list", help="registered dataset generators"))
    d.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.data_command == "info":
        from ..data import describe_file

        print(json.dumps(describe_file(args.file), indent=2, default=str))
        return 0
    if args.data_command == "list":
        from ..data import GENERATORS

        for name, doc in GENERATORS.describe().items():
            print(f"  {name:<12} {doc}")
        return 0
    return _data_generate(args, argv)


def _data_generate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import shlex

    from ..data.config import load_data_config

    config = load_data_config(args.config, args.overrides)  # bad keys fail before JAX starts
    import contextlib

    import jax

    from ..data import generate

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
