"""``python -m pdejax.cli``: the ``pdejax`` command."""

import sys

from . import main

sys.exit(main())
