"""``python -m invrestore``: the ``invrestore`` command (see :mod:`invrestore.cli`)."""

import sys

from .cli import main

sys.exit(main())
