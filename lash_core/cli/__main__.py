"""``python -m lash_core.cli``: the ``lash`` command."""

import sys

from lash_core.cli import main

sys.exit(main())
