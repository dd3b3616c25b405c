"""``python -m pgqrs.bench``: the same as ``pgqrs bench``."""

import sys

from .cli import main

sys.exit(main())
