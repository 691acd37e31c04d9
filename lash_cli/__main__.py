"""``python -m lash_cli``: the ``lash`` command."""

import sys

from lash_cli import main

sys.exit(main())
