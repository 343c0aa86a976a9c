"""Exceptions raised by the ledger."""


class LedgerError(Exception):
    """Base class of every ledger error."""


class InvalidEntryError(LedgerError, ValueError):
    """An entry was refused before anything was written (bad amount, account, kind or data)."""


class CorruptLedgerError(LedgerError):
    """The committed part of a ledger on disk is damaged or altered; it is refused, not repaired.

    ``seq`` is the first entry (or checkpoint size) found bad.
    """

    def __init__(self, seq: int, reason: str) -> None:
        """Store where and why."""
        super().__init__(f"entry {seq}: {reason}")
        self.seq = seq
        self.reason = reason


class LedgerFatalError(LedgerError):
    """Writing or syncing failed: the ledger refuses further writes until it is reopened.

    After a failed fsync the kernel may have dropped the dirty pages, so a retry could "succeed"
    without the data being on disk; the only safe answer is to stop.
    """
