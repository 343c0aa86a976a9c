"""``python -m ledger``: the auditor (see cli.py)."""

import sys

from .cli import main

sys.exit(main())
