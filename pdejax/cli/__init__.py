"""Command line: ``pdejax train | list | check | eval | data | configs | sweep | plot | compare``.

One module per command group (``train``, ``data``, ``info``, ...); each has
``register(subparsers)``, which adds its parsers and sets ``handler`` on them.

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
import signal
import sys
from collections.abc import Sequence

from .._os_errors import describe as describe_os_error
from .._os_errors import os_error_in
from .._signals import ignore_stop_signals, quiet_exit
from ..config.errors import ConfigError
from . import data, info, runs, sweep, train
from ._common import load_extensions

COMMAND_GROUPS = (train, info, data, runs, sweep)  # each: register(subparsers)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdejax", description="Solve and learn PDEs in JAX.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``pdejax`` command; ``argv`` defaults to ``sys.argv[1:]``. Returns the exit status."""
    parser = _parser()
    if argv is None:  # a process of its own (not a caller's in-process use): see quiet_exit
        quiet_exit()
        if hasattr(signal, "SIGXFSZ"):  # past a file-size limit: an OSError (EFBIG) we report, not a kill
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    # Overrides may also follow options: `pdejax train CFG --run-dir D key=value`.
    takes_overrides = getattr(args, "takes_overrides", False)
    stray = [e for e in extra if e.startswith("-") or "=" not in e or not takes_overrides]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = list(args.overrides) + extra
    try:
        if not getattr(args, "own_imports", False):  # train passes its imports to load_config, with the config's
            load_extensions(args.imports)
        return args.handler(args, argv)
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

