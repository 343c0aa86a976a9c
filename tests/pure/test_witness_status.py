"""The witnessing figures the entities show, without Home Assistant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.energy_tokens.witness_status import BEHIND_AFTER, WitnessingStatus


def test_the_status_counts_cosignatures_and_falls_behind() -> None:
    status = WitnessingStatus(checkpoint_size=9)
    assert (status.witnessed_size, status.cosignatures, status.last_witnessed) == (0, 0, None)
    status.witnessed = {"a": (9, 1_700_000_100), "b": (5, 1_700_000_000)}
    assert (status.witnessed_size, status.cosignatures) == (9, 1)
    assert status.last_witnessed == datetime.fromtimestamp(1_700_000_100, UTC)
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert not status.behind(now)
    status.unwitnessed_since = now
    assert not status.behind(now + BEHIND_AFTER - timedelta(seconds=1))
    assert status.behind(now + BEHIND_AFTER)
