"""What an operation of the books returns, and how it refuses.

Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import DomainEvent
from .ledger import Entry
from .metering import GlitchedSpike, HeldSpike


class BudgetError(Exception):
    """An operation refused before anything was written; ``key`` names the translated message."""

    def __init__(self, key: str, **placeholders: str) -> None:
        """Keep the translation key and its placeholders."""
        super().__init__(key)
        self.key = key
        self.placeholders = placeholders


@dataclass(slots=True)
class Result:
    """What one operation did: its unit of entries, its domain events, the meter jumps it held."""

    entries: list[Entry] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)
    spikes: list[tuple[str, str, HeldSpike]] = field(default_factory=list)  # device, meter, jump
    glitches: list[GlitchedSpike] = field(default_factory=list)  # held jumps discarded as glitches

    def merge(self, other: Result) -> Result:
        """Add what another operation did after this one's; return this result."""
        self.entries += other.entries
        self.events += other.events
        self.spikes += other.spikes
        self.glitches += other.glitches
        return self
