"""Constants of the Energy Tokens integration."""

from typing import Final

DOMAIN: Final = "energy_tokens"

# Entries appended within this many seconds share one fsync (group commit).
COMMIT_DELAY_SECONDS: Final = 1.0

ISSUE_LEDGER_TAMPERED: Final = "ledger_tampered"
ISSUE_LEDGER_TORN_TAIL: Final = "ledger_torn_tail"
