"""``python -m energy_tokens_ledger``: the auditor (see cli.py)."""

import sys

from .cli import main

sys.exit(main())
