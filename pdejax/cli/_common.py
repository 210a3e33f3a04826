"""What every command shares: ``--import`` and loading the user's extensions."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def add_import(parser: argparse.ArgumentParser) -> None:
    """``--import MODULE_OR_FILE`` (repeatable) on ``parser``."""
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE_OR_FILE",
                        help="import a module (my_lab.pdes) or a .py file first, so the names it registers "
                             "are known (repeatable)")


def load_extensions(imports: Sequence[str]) -> None:
    """Installed plug-ins, then ``--import`` modules and files (relative to the cwd)."""
    from ..config.plugins import import_extensions, load_entry_points

    load_entry_points()
    import_extensions(imports, where="--import")
