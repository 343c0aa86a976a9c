"""Diagnostics of a household: settings, figures, balances and ledger statistics, never a secret.

The signing key is never read here; only the public verifier key is shown.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant

from .ledger import verifier_key
from .ledger.store import QUARANTINE_FOLDER
from .runtime import EnergyTokensConfigEntry

if TYPE_CHECKING:
    from .totals_link import TotalsLink
    from .trade_link import TradeLink
    from .witnessing import CommunityLink


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: EnergyTokensConfigEntry
) -> dict[str, Any]:
    """Return what helps to understand a household's state."""
    runtime = entry.runtime_data
    ledger = runtime.economy.ledger
    verification = runtime.verification
    view = runtime.current_view()
    quarantine = await hass.async_add_executor_job(_quarantined, ledger.directory)
    return {
        "entry": {"title": entry.title, "data": dict(entry.data), "options": dict(entry.options)},
        "period": None
        if view.period is None
        else {"start": view.period.start.isoformat(), "end": view.period.end.isoformat()},
        "money_this_period": runtime.economy.period_settings.money(),
        "devices": {
            subentry_id: {
                "settings": asdict(device.settings),
                "figures": asdict(view.devices[subentry_id]),
                "meter_baseline_wh": device.tracker.baseline_wh,
                "pending_wh": device.tracker.pending_wh,
            }
            for subentry_id, device in runtime.economy.devices.items()
        },
        "ledger": {
            "entries": ledger.seq,
            "durable_entries": ledger.durable_seq,
            "head": ledger.head.hex(),
            "segment": ledger.segment,
            "checkpoint_entries": ledger.checkpoint_size,
            "last_checkpoint_ms": ledger.last_checkpoint_ms,
            "verifier_key": verifier_key(ledger.origin, ledger.public_key),
            "torn_tail": None if ledger.torn_tail is None else asdict(ledger.torn_tail),
            "torn_checkpoint": None
            if ledger.torn_checkpoint is None
            else asdict(ledger.torn_checkpoint),
            "quarantine": quarantine,  # bytes set aside at open, kept: file name and size
        },
        "verification": None if verification is None else verification.as_dict(),
        "balances_milli_tokens": ledger.balances(),
        "cut_loads": {key: cut.entity_id for key, cut in runtime.loads.cuts.items()},
        "community": None
        if runtime.community is None or runtime.trade is None or runtime.totals is None
        else _community(runtime.community)  # with a community come all three
        | {"transfers": _transfers(runtime.trade), "ranking": _ranking(runtime.totals)},
    }


def _quarantined(directory: Path) -> dict[str, int]:
    folder = directory / QUARANTINE_FOLDER
    if not folder.is_dir():
        return {}
    return {path.name: path.stat().st_size for path in sorted(folder.iterdir())}


def _community(link: CommunityLink) -> dict[str, Any]:
    """What the household's diagnostics show of its community (public data only)."""
    return {
        "prefix": link.prefix,
        "own": link.own.as_data() | {"key_ids": link.own.key_ids},
        # The witness keys an auditor passes to `energy-tokens-ledger verify --witness`.
        "admitted": {
            h: {"name": m.name, "witness_key": str(m.witness_key)} for h, m in link.members.items()
        },
        "seen": {h: {"name": m.name, "key_ids": m.key_ids} for h, m in link.seen.items()},
        "ignored_messages": link.ignored,
        "connected": link.status.connected,
        "checkpoint_size": link.status.checkpoint_size,
        "cosigned_by": {h: size for h, (size, _) in link.status.witnessed.items()},
        "witnessing": {origin: cosigned.size for origin, cosigned in link.witness.cosigned.items()},
    }


def _transfers(link: TradeLink) -> dict[str, int]:
    """Transfers with the community's other instances: under way, and messages ignored."""
    return {
        "open_offers": len(link.trader.book.offers),
        "open_receipts": len(link.trader.book.receipts),
        "offers_for_sale": len(link.trader.offers_for_sale()),  # the members', it may buy
        "ignored_messages": link.trader.ignored,
    }


def _ranking(link: TotalsLink) -> dict[str, Any]:
    """The community's ranking: what the household publishes (if it opted in), what it got."""
    published = None
    if link.share and link.own is not None:
        published = link.own.body()
    return {
        "shares_totals": link.share,
        "published": published,
        "members_with_totals": len(link.received),
        "ignored_messages": link.ignored,
    }
