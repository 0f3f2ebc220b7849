"""``python -m bench`` is ``parley bench``."""

import sys

from bench.cli import main

sys.exit(main())
