"""Three households on three Home Assistant instances witness each other over a real broker."""

from __future__ import annotations

from contextlib import AsyncExitStack
import json
import logging
from pathlib import Path
import shutil

from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.energy_tokens.const import (
    CONF_LEDGER_SEEN,
    DOMAIN,
    EVENT_WITNESS_REFUSED,
)
from custom_components.energy_tokens.ledger.cosignature import check_witnesses
from custom_components.energy_tokens.ledger.proofs import signed_checkpoints
from custom_components.energy_tokens.restore import LEDGER_FOLDER

from .conftest import Broker, admitted_community, wait_for


async def test_three_households_witness_each_other_and_catch_a_rewrite(
    hass: HomeAssistant,
    broker: Broker,
    tmp_path: Path,
    stack: AsyncExitStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    households = await admitted_community(stack, tmp_path, broker, hass, "One", "Two", "Three")
    one, two, three = households

    # Each household's checkpoint is cosigned by the two others, and kept beside its ledger.
    sizes = [await h.grow() for h in households]
    await wait_for(
        lambda: all(h.link.status.cosignatures == 2 for h in households), "two cosignatures each"
    )
    for household, size in zip(households, sizes, strict=True):
        witnesses = [m.witness_key for m in household.link.members.values()]
        witnessed = check_witnesses(household.folder, witnesses, 2, every_checkpoint=False)
        assert witnessed.problem is None
        assert witnessed.cosigned == {size: sorted(w.name for w in witnesses)}
        state = household.hass.states.get(
            f"sensor.{household.entry.title.lower()}_witnessed_entries"
        )
        assert state is not None
        assert state.state == str(size)

    # Three starts its ledger over: same key, same household, another history (and the record
    # Home Assistant keeps of the last checkpoint seen, edited away too).
    refused: list[Event] = []
    one.hass.bus.async_listen(EVENT_WITNESS_REFUSED, refused.append)
    cosigned_before = one.link.witness.cosigned[three.link.own.log_key.name].note
    hass3 = three.hass
    assert await hass3.config_entries.async_unload(three.entry.entry_id)
    old = Path(hass3.config.path(".storage", DOMAIN, three.entry.entry_id, LEDGER_FOLDER))
    shutil.rmtree(old)
    data = dict(three.entry.data)
    data.pop(CONF_LEDGER_SEEN, None)
    hass3.config_entries.async_update_entry(three.entry, data=data)
    assert await hass3.config_entries.async_setup(three.entry.entry_id)
    await hass3.async_block_till_done()
    while await three.grow(amount=2) <= sizes[2]:
        pass

    await wait_for(lambda: len(refused) == 1, "the rewrite to be caught by One")
    assert refused[0].data["member"] == three.entry.entry_id
    assert refused[0].data["member_name"] == "Three"
    assert refused[0].data["reason"] in ("inconsistent", "fork")
    issue = ir.async_get(one.hass).async_get_issue(
        DOMAIN, f"witness_refused_{one.entry.entry_id}_{three.entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders == {
        "household": "One",
        "member": "Three",
        "reason": refused[0].data["reason"],
        "evidence": refused[0].data["evidence"],
    }
    evidence = json.loads(Path(refused[0].data["evidence"]).read_text())  # noqa: ASYNC240
    assert evidence["cosigned"] == cosigned_before
    assert evidence["refused"] in {c.note for c in signed_checkpoints(old)}  # the new history
    # The witness still holds the history it cosigned, and cosigns nothing of the new one.
    assert one.link.witness.cosigned[three.link.own.log_key.name].note == cosigned_before
    await wait_for(
        lambda: (
            ir.async_get(two.hass).async_get_issue(
                DOMAIN, f"witness_refused_{two.entry.entry_id}_{three.entry.entry_id}"
            )
            is not None
        ),
        "the rewrite to be caught by Two",
    )

    # One restarts: the retained rewrite is refused again, but reported once (as were the
    # other checkpoints of Three's new history).
    caplog.set_level(logging.DEBUG, logger="custom_components.energy_tokens.witnessing")
    await one.reload()
    await wait_for(lambda: "Refused again, reported before" in caplog.text, "refused again")
    assert len(refused) == 1

    # One removes Three as a member: its repair goes with it.
    (member,) = [
        s
        for s in one.entry.subentries.values()
        if s.subentry_type == "member" and s.data["household"] == three.entry.entry_id
    ]
    assert one.hass.config_entries.async_remove_subentry(one.entry, member.subentry_id)
    await one.hass.async_block_till_done()
    assert ir.async_get(one.hass).async_get_issue(DOMAIN, issue.issue_id) is None
    assert set(one.link.members) == {two.entry.entry_id}
