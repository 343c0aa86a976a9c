"""The dispatcher signals a running household sends its entities and platforms."""

from __future__ import annotations

from .const import DOMAIN
from .view import Aspect


def signal_household(entry_id: str) -> str:
    """Sent when the household's figures or its ledger's may have changed."""
    return f"{DOMAIN}_{entry_id}"


def signal_device(entry_id: str, subentry_id: str, aspect: Aspect) -> str:
    """Sent when an aspect of a device's figures changed (its entities follow only theirs)."""
    return f"{DOMAIN}_{entry_id}_{subentry_id}_{aspect}"


def signal_device_added(entry_id: str) -> str:
    """Sent with a subentry id when a device joined the household: platforms add its entities."""
    return f"{DOMAIN}_{entry_id}_device_added"


def signal_view(entry_id: str) -> str:
    """Sent when anything the card shows may have changed (it is pushed to subscribed cards)."""
    return f"{DOMAIN}_{entry_id}_view"


def signal_witnessing(entry_id: str) -> str:
    """Sent when the household's witnessing changed (cosignatures, connection, behind)."""
    return f"{DOMAIN}_{entry_id}_witnessing"


def signal_ranking(entry_id: str) -> str:
    """Sent when the community's ranking may have changed (totals published or received)."""
    return f"{DOMAIN}_{entry_id}_ranking"
