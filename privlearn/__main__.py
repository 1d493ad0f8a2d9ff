"""``python -m privlearn audit ...``."""

import sys

from .cli import main

sys.exit(main())
