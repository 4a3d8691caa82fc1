"""``python -m core.cli`` runs the ``oneshot`` command."""

import sys

from . import main

sys.exit(main())
