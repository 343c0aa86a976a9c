"""The Energy Tokens ledger: append-only, hash-chained, crash-safe, signed.

Pure Python: the standard library and ``cryptography`` only, never Home Assistant, so an auditor
can verify a copy anywhere. Amounts are integer milli-tokens; times integer epoch milliseconds.
"""

from .chain import ChainError, ChainState
from .checkpoints import Checkpoint, origin_for
from .entries import SYSTEM, Cause, CauseKind, Entry, Kind
from .errors import CorruptLedgerError, InvalidEntryError, LedgerError, LedgerFatalError
from .keys import load_or_create_signing_key, parse_public_key, verifier_key
from .layout import CHECKPOINTS_FILE, VERIFIER_KEY_FILE, list_segments
from .reader import iter_entries
from .store import Ledger, TornTail
from .verify import VerifyResult, verify_ledger

__all__ = [
    "CHECKPOINTS_FILE",
    "SYSTEM",
    "VERIFIER_KEY_FILE",
    "Cause",
    "CauseKind",
    "ChainError",
    "ChainState",
    "Checkpoint",
    "CorruptLedgerError",
    "Entry",
    "InvalidEntryError",
    "Kind",
    "Ledger",
    "LedgerError",
    "LedgerFatalError",
    "TornTail",
    "VerifyResult",
    "iter_entries",
    "list_segments",
    "load_or_create_signing_key",
    "origin_for",
    "parse_public_key",
    "verifier_key",
    "verify_ledger",
]
