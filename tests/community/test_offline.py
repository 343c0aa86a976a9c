"""Witnessing through restarts, a member offline, the broker restarted, and bad messages."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from homeassistant.components import mqtt
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.energy_tokens import witness_files, witness_status, witnessing
from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.diagnostics import async_get_config_entry_diagnostics
from custom_components.energy_tokens.ledger.community import (
    CheckpointMessage,
    CosignedMessage,
    Member,
    Topic,
    encode,
    topic,
)
from custom_components.energy_tokens.ledger.cosignature import cosign, read_cosignatures
from custom_components.energy_tokens.ledger.keys import VerifierKey, public_key_bytes
from custom_components.energy_tokens.ledger.note import note_text, sign_note
from custom_components.energy_tokens.witness_files import WITNESS_STATE_FILE

from .conftest import PREFIX, Broker, Household, admitted_community, wait_for


def _cosigned_by(household: Household, witness: Household) -> int:
    return household.link.status.witnessed.get(witness.entry.entry_id, (0, 0))[0]


async def test_offline_restarted_and_a_broker_that_forgot_everything(
    hass: HomeAssistant, broker: Broker, tmp_path: Path, stack: AsyncExitStack
) -> None:
    one, two = await admitted_community(stack, tmp_path, broker, hass, "One", "Two")
    first = await two.grow()
    await wait_for(lambda: _cosigned_by(two, one) == first, "One to cosign Two's checkpoint")

    # One goes offline for a while; Two signs two more checkpoints meanwhile.
    state_file = one.folder.parent / WITNESS_STATE_FILE
    assert await one.hass.config_entries.async_unload(one.entry.entry_id)
    kept = json.loads(state_file.read_text())
    assert kept[two.link.own.log_key.name]["size"] == first  # durable before it was published
    await two.grow()
    latest = await two.grow()
    assert latest > first
    note = two.runtime.economy.ledger.latest_note
    await wait_for(lambda: two.link.published_note == note, "Two to publish its latest")
    assert await one.hass.config_entries.async_setup(one.entry.entry_id)
    # Back, One finds Two's latest checkpoint with a proof from the size it holds, and cosigns.
    await wait_for(lambda: _cosigned_by(two, one) == latest, "One to catch up")
    lines = read_cosignatures(two.folder)
    assert first in lines
    assert [size for size in sorted(lines) if size > first] == [latest]  # none while offline
    assert all(len(cosigned) == 1 for cosigned in lines.values())  # none kept twice

    # The broker restarts and forgets every retained message; Two signs while it is down.
    broker.stop()
    await wait_for(lambda: not two.link.status.connected, "Two to see the broker gone")
    cosignatures = "sensor.two_cosignatures_on_the_latest_checkpoint"
    state = two.hass.states.get(cosignatures)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE  # not a stale count that looks fine
    offline = await two.grow()
    broker.start()
    # Everyone publishes again what it said; One cosigns the checkpoint signed offline.
    await wait_for(lambda: _cosigned_by(two, one) == offline, "witnessing to resume", 60)
    state = two.hass.states.get(cosignatures)
    assert state is not None
    assert state.state == "1"
    assert one.link.witness.cosigned[two.link.own.log_key.name].size == offline


async def test_behind_strangers_forgeries_and_new_keys(
    hass: HomeAssistant,
    broker: Broker,
    tmp_path: Path,
    stack: AsyncExitStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(witnessing, "BEHIND_AFTER", timedelta(seconds=1))
    monkeypatch.setattr(witness_status, "BEHIND_AFTER", timedelta(seconds=1))
    one, two = await admitted_community(stack, tmp_path, broker, hass, "One", "Two")
    behind = "binary_sensor.one_witnessing_behind"

    # Two is offline: One's checkpoint waits for a cosignature, and the sensor says so.
    assert await two.hass.config_entries.async_unload(two.entry.entry_id)
    await one.grow()
    await wait_for(lambda: one.hass.states.is_state(behind, STATE_ON), "witnessing behind")
    assert await two.hass.config_entries.async_setup(two.entry.entry_id)
    await wait_for(lambda: one.hass.states.is_state(behind, STATE_OFF), "witnessing caught up")
    size = one.link.status.checkpoint_size
    assert one.link.status.cosignatures == 1

    # A household nobody admitted publishes a checkpoint: ignored, and counted.
    ignored = one.link.ignored
    stranger = "01STRANGER0000000000000000"
    await mqtt.async_publish(
        one.hass,
        topic(PREFIX, Topic.CHECKPOINT, stranger),
        CheckpointMessage("x\n\n— y z\n", {}).encode(),
    )
    await wait_for(lambda: one.link.ignored == ignored + 1, "the stranger's message ignored")
    assert all(origin.endswith(two.entry.entry_id) for origin in one.link.witness.cosigned)

    # A cosignature of One's checkpoint under Two's name but not Two's key: not kept.
    forger = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"forger").digest())
    note = one.runtime.economy.ledger.latest_note
    assert note is not None
    line = cosign(note_text(note), two.link.own.witness_key.name, forger, 1_800_000_000)
    before = read_cosignatures(one.folder)
    await mqtt.async_publish(
        one.hass,
        topic(PREFIX, Topic.COSIGNED, one.entry.entry_id, two.entry.entry_id),
        CosignedMessage(size, line).encode(),
    )
    await wait_for(lambda: one.link.ignored == ignored + 2, "the forgery refused")
    assert read_cosignatures(one.folder) == before

    # Two's household announces other keys than admitted: a repair on One, nothing cosigned.
    new_key = public_key_bytes(forger.public_key())
    moved = Member(
        two.entry.entry_id,
        "Two",
        VerifierKey.of(two.link.own.log_key.name, new_key),
        two.link.own.witness_key,
    )
    await mqtt.async_publish(
        one.hass, topic(PREFIX, Topic.MEMBER, two.entry.entry_id), encode(moved.as_data())
    )
    issue_id = f"member_key_changed_{one.entry.entry_id}_{two.entry.entry_id}"
    await wait_for(
        lambda: ir.async_get(one.hass).async_get_issue(DOMAIN, issue_id) is not None,
        "the changed key reported",
    )
    issue = ir.async_get(one.hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {
        "household": "One",
        "member": "Two",
        "key_ids": moved.key_ids,
    }

    # The admitted keys announced again (it was someone else's doing): the repair goes.
    await mqtt.async_publish(
        one.hass,
        topic(PREFIX, Topic.MEMBER, two.entry.entry_id),
        encode(two.link.own.as_data()),
    )
    await wait_for(
        lambda: ir.async_get(one.hass).async_get_issue(DOMAIN, issue_id) is None,
        "the repair gone",
    )

    diagnostics = await async_get_config_entry_diagnostics(one.hass, one.entry)
    assert diagnostics["community"]["admitted"] == {
        two.entry.entry_id: {"name": "Two", "witness_key": str(two.link.own.witness_key)}
    }
    assert diagnostics["community"]["cosigned_by"] == {two.entry.entry_id: size}
    assert diagnostics["community"]["ignored_messages"] == ignored + 2
    assert "witness.key" not in json.dumps(diagnostics)


async def test_bad_signatures_unknown_sizes_and_members_leaving(
    hass: HomeAssistant,
    broker: Broker,
    tmp_path: Path,
    stack: AsyncExitStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    one, two = await admitted_community(stack, tmp_path, broker, hass, "One", "Two")
    size = await two.grow()
    await wait_for(lambda: _cosigned_by(two, one) == size, "One to cosign")
    origin = two.link.own.log_key.name

    # A checkpoint on Two's topic not signed by Two's admitted key: refused, nothing kept.
    forger = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"forger").digest())
    forged = sign_note(f"{origin}\n{size + 5}\n{'A' * 43}=\n", origin, forger)
    await mqtt.async_publish(
        one.hass,
        topic(PREFIX, Topic.CHECKPOINT, two.entry.entry_id),
        CheckpointMessage(forged, {}).encode(),
    )
    await wait_for(lambda: "Did not cosign a checkpoint of Two (signature)" in caplog.text, "it")
    assert one.link.witness.cosigned[origin].size == size
    assert not ir.async_get(one.hass).issues  # no evidence of anything: no repair

    # A cosignature of a checkpoint One never signed: ignored.
    ignored = one.link.ignored
    line = cosign("x\n", two.link.own.witness_key.name, forger, 1_800_000_000)
    await mqtt.async_publish(
        one.hass,
        topic(PREFIX, Topic.COSIGNED, one.entry.entry_id, two.entry.entry_id),
        CosignedMessage(10**6, line).encode(),
    )
    await wait_for(lambda: one.link.ignored == ignored + 1, "the unknown size ignored")

    # A household joins, is seen (not admitted), then leaves: its retained message cleared.
    stranger = "01STRANGER0000000000000000"
    joined = Member(
        stranger,
        "Stranger",
        VerifierKey.of(f"energy-tokens/{stranger}", public_key_bytes(forger.public_key())),
        two.link.own.witness_key.__class__(
            f"energy-tokens/{stranger}/witness", public_key_bytes(forger.public_key())
        ),
    )
    member_topic = topic(PREFIX, Topic.MEMBER, stranger)
    await mqtt.async_publish(one.hass, member_topic, encode(joined.as_data()), retain=True)
    await wait_for(lambda: stranger in one.link.seen, "the stranger seen")
    await mqtt.async_publish(one.hass, member_topic, "", retain=True)
    await wait_for(lambda: stranger not in one.link.seen, "the stranger gone")

    # A topic under the community's filters that names no household: ignored.
    ignored = one.link.ignored
    await mqtt.async_publish(one.hass, f"{PREFIX}/member/not.an.id", "{}")
    await wait_for(lambda: one.link.ignored == ignored + 1, "a bad topic ignored")


async def test_a_checkpoint_not_published_is_published_at_the_next_change(
    hass: HomeAssistant,
    broker: Broker,
    tmp_path: Path,
    stack: AsyncExitStack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    one, two = await admitted_community(stack, tmp_path, broker, hass, "One", "Two")
    faults: list[Exception] = [OSError("disk read failed"), HomeAssistantError("dropped")]
    proofs_from = witness_files.proofs_from
    publish = mqtt.async_publish

    def failing_proofs(*args: Any) -> dict[int, list[bytes]]:
        if faults and isinstance(faults[0], OSError):
            raise faults.pop(0)
        return proofs_from(*args)

    async def failing_publish(*args: Any, **kwargs: Any) -> None:
        if faults and isinstance(faults[0], HomeAssistantError) and "checkpoint" in args[1]:
            raise faults.pop(0)
        await publish(*args, **kwargs)

    monkeypatch.setattr(witnessing, "proofs_from", failing_proofs)
    monkeypatch.setattr(mqtt, "async_publish", failing_publish)
    # The proofs cannot be read, then the publication drops: each next change tries again.
    first = await two.grow()
    await wait_for(lambda: "No consistency proofs for the community" in caplog.text, "a fault")
    await two.grow()
    await wait_for(lambda: not faults, "the publication dropped")
    latest = await two.grow()
    await wait_for(lambda: _cosigned_by(two, one) == latest, "the latest published, cosigned")
    assert latest > first
