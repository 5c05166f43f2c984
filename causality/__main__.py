"""``python -m causality`` runs the command line."""

import sys

from causality.cli import main

sys.exit(main())
