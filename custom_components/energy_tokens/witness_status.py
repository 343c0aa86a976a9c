"""What a household's witnessing entities show (pure: no Home Assistant)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

BEHIND_AFTER = timedelta(minutes=30)  # a checkpoint nobody cosigned for this long: behind


@dataclass(slots=True)
class WitnessingStatus:
    """What the household's witnessing entities show."""

    connected: bool = False
    checkpoint_size: int = 0  # the household's latest checkpoint with a root
    witnessed: dict[str, tuple[int, int]] = field(default_factory=dict)  # witness: size, time
    unwitnessed_since: datetime | None = None  # since when a checkpoint waits for anyone

    @property
    def witnessed_size(self) -> int:
        """The largest checkpoint any admitted member cosigned."""
        return max((size for size, _ in self.witnessed.values()), default=0)

    @property
    def cosignatures(self) -> int:
        """Admitted members whose cosignature of the latest checkpoint was received."""
        return sum(size == self.checkpoint_size for size, _ in self.witnessed.values())

    @property
    def last_witnessed(self) -> datetime | None:
        """When the latest cosignature received was made."""
        latest = max((time for _, time in self.witnessed.values()), default=None)
        return None if latest is None else datetime.fromtimestamp(latest, UTC)

    def behind(self, now: datetime) -> bool:
        """Whether witnessing falls behind: a checkpoint nobody cosigned for BEHIND_AFTER."""
        since = self.unwitnessed_since
        return since is not None and now - since >= BEHIND_AFTER
