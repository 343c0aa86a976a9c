"""The Energy Tokens ledger: append-only, hash-chained, crash-safe, signed.

Pure Python: the standard library and ``cryptography`` only, never Home Assistant, so an auditor
can verify a copy anywhere. Amounts are integer milli-tokens; times integer epoch milliseconds.

Shipped twice from the same files: inside the integration (``custom_components.energy_tokens
.ledger``) and as the distribution ``energy-tokens-ledger`` (``energy_tokens_ledger``, with the
``energy-tokens-ledger`` command). The names below are the public API; everything else is
imported from its submodule (e.g. ``.entries.SYSTEM``, ``.layout.list_segments``).
"""

from typing import TYPE_CHECKING

from .entries import Cause, CauseKind, Entry, Kind
from .errors import CorruptLedgerError, LedgerError, LedgerFatalError
from .keys import load_or_create_signing_key, verifier_key
from .reader import iter_entries
from .verify import VerifyResult, verify_ledger

if TYPE_CHECKING:
    from .store import Ledger
else:

    def __getattr__(name: str) -> object:
        """Load the writer on first use, so verifying (and the auditor's command) never does."""
        if name == "Ledger":
            from .store import Ledger  # noqa: PLC0415

            globals()["Ledger"] = Ledger
            return Ledger
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Cause",
    "CauseKind",
    "CorruptLedgerError",
    "Entry",
    "Kind",
    "Ledger",
    "LedgerError",
    "LedgerFatalError",
    "VerifyResult",
    "iter_entries",
    "load_or_create_signing_key",
    "verifier_key",
    "verify_ledger",
]
