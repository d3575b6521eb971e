"""``python -m benchmarks ...``: the benchmark suite, same as ``invrestore bench ...``.

The code lives in :mod:`invrestore.bench` so that the installed console command has it too;
see ``benchmarks/README.md`` for the commands.
"""

import sys

from invrestore.bench import main

sys.exit(main())
