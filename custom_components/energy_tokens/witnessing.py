"""A household in its community: publishes its checkpoints, witnesses the members' checkpoints.

Over Home Assistant's own MQTT integration (community.py has the topics and messages). Every
message is verified before anything is kept: a member's checkpoint by its admitted ledger key
and a consistency proof from the checkpoint this witness cosigned last (ledger/witness.py), a
cosignature of the household's own checkpoint by the admitted witness's key. The witness state
is written durably before a cosignature is published, so that a restart never cosigns a history
inconsistent with one cosigned before; it lives in the household's folder, and so in backups.
A refused checkpoint that proves a member rewrote or forked its ledger is kept as evidence and
raises a repair and an event naming the member.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
import logging
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from . import witness_issues
from .ledger.checkpoints import CheckpointError, open_checkpoint_note
from .ledger.community import (
    CheckpointMessage,
    CommunityError,
    CosignedMessage,
    Member,
    Payload,
    Topic,
    decode,
    encode,
    parse_topic,
    proof_sizes,
    subscriptions,
    topic,
    witness_name,
)
from .ledger.cosignature import (
    CosignatureError,
    WitnessKey,
    keep_cosignature,
    parse_cosignature,
)
from .ledger.errors import LedgerError
from .ledger.keys import VerifierKey, public_key_bytes
from .ledger.note import note_text
from .ledger.store import Ledger
from .ledger.witness import Witness, WitnessRefusal
from .signals import signal_household, signal_witnessing
from .witness_files import keep_evidence, load, own_notes, proofs_from, save_state
from .witness_status import BEHIND_AFTER, WitnessingStatus

_LOGGER = logging.getLogger(__name__)


class CommunityLink:
    """One household's part in its community (started after its ledger is open)."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        ledger: Ledger,
        prefix: str,
        name: str,
        members: dict[str, Member],
        witness_key: Ed25519PrivateKey,
        witness_state: dict[str, Any],
        kept: set[tuple[int, str]],
    ) -> None:
        """Use ``async_open``."""
        self.hass = hass
        self.entry = entry
        self.ledger = ledger  # the household's, open as long as this link runs
        self.prefix = prefix
        self.household = entry.entry_id
        self.folder: Path = ledger.directory
        self.own = Member(
            self.household,
            name,
            VerifierKey.of(ledger.origin, ledger.public_key),
            WitnessKey(witness_name(self.household), public_key_bytes(witness_key.public_key())),
        )
        self.members = members  # admitted, by household id
        self.seen: dict[str, Member] = {}  # joined (retained member messages), admitted or not
        self.status = WitnessingStatus()
        self.ignored = 0  # messages from households not admitted, or malformed
        self._state = witness_state  # every origin's, admitted now or not
        keys = {m.log_key.name: m.log_key.public_key for m in members.values()}
        admitted = {origin: data for origin, data in witness_state.items() if origin in keys}
        self.witness = Witness.from_data(self.own.witness_key.name, witness_key, admitted, keys)
        self._kept = kept  # cosignatures kept beside the checkpoints: (size, line)
        # The size each witness says it cosigned last: the proofs it needs start there (even
        # if its cosignature does not verify: a ledger rewritten since must answer all the same).
        self._asked: dict[str, int] = {}
        self._published: tuple[str, frozenset[int]] | None = None  # note and its proofs' sizes
        self._acknowledged: str | None = None  # the note the broker last acknowledged
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._cancel_behind: CALLBACK_TYPE | None = None
        self._lock = asyncio.Lock()
        self._publish_lock = asyncio.Lock()
        self._stopped = False  # unloaded: tasks still under way publish and schedule nothing

    @classmethod
    async def async_open(
        cls,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        ledger: Ledger,
        prefix: str,
        name: str,
        members: dict[str, Member],
    ) -> CommunityLink:
        """Load the witness key and state and the cosignatures kept (in the executor)."""
        key, state, kept = await hass.async_add_executor_job(
            load, ledger.directory.parent, ledger.directory
        )
        return cls(hass, entry, ledger, prefix, name, members, key, state, kept)

    @property
    def published_note(self) -> str | None:
        """The household's checkpoint the broker acknowledged last (None before the first)."""
        return self._acknowledged

    # ----- connection

    async def async_start(self) -> None:
        """Subscribe, and publish who the household is and its latest checkpoint."""
        self._unsubscribe.append(
            mqtt.async_subscribe_connection_status(self.hass, self._async_connection)
        )
        for topic_filter in subscriptions(self.prefix):
            self._unsubscribe.append(
                await mqtt.async_subscribe(
                    self.hass, topic_filter, self._async_message, qos=1, encoding=None
                )
            )
        self._unsubscribe.append(
            async_dispatcher_connect(
                self.hass, signal_household(self.household), self._async_ledger_changed
            )
        )
        self.status.connected = mqtt.is_connected(self.hass)
        await self._async_announce()

    async def async_leave(self) -> None:
        """Clear what the household published (it left): the others see it leave."""
        if mqtt.is_connected(self.hass):
            topics = [
                topic(self.prefix, kind, self.household) for kind in Topic if kind != "cosigned"
            ]
            topics += [topic(self.prefix, Topic.COSIGNED, h, self.household) for h in self.members]
            for name in topics:
                await self._async_publish(name, "")
        self.async_stop()

    @callback
    def async_stop(self) -> None:
        """Stop following the community (the retained messages stay on the broker)."""
        self._stopped = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._cancel_behind is not None:
            self._cancel_behind()
            self._cancel_behind = None

    def _task(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as the household's: cancelled when it unloads."""
        self.entry.async_create_background_task(self.hass, work, "energy_tokens community")

    @callback
    def _async_connection(self, connected: bool) -> None:
        self.status.connected = connected
        if connected:  # the broker may have lost what was retained: publish it again
            self._published = None
            self._task(self._async_announce())
        self._changed()

    async def _async_announce(self) -> None:
        """Publish again all the household says (a broker restarted may have lost it)."""
        member_topic = topic(self.prefix, Topic.MEMBER, self.household)
        await self._async_publish(member_topic, encode(self.own.as_data()))
        for member in self.members.values():
            await self._async_publish_cosigned(member)
        await self._async_publish_checkpoint()

    async def _async_publish(self, name: str, payload: str) -> bool:
        """Publish a retained message; False if not (all is published again on connecting)."""
        if self._stopped:
            return False
        try:
            await mqtt.async_publish(self.hass, name, payload, qos=1, retain=True)
        except HomeAssistantError as err:  # not connected, or the connection dropped meanwhile
            _LOGGER.debug("Not published to %s: %s", name, err)
            return False
        return True

    # ----- the household's own checkpoints

    @callback
    def _async_ledger_changed(self) -> None:
        note = self.ledger.latest_note
        if note is not None and (self._published is None or self._published[0] != note):
            self._task(self._async_publish_checkpoint())

    async def _async_publish_checkpoint(self) -> None:
        """Publish the latest checkpoint with a proof from each size its witnesses hold."""
        # In turn, reading the latest inside: an older one never overwrites a newer (retained).
        async with self._publish_lock:
            await self._async_publish_latest()

    async def _async_publish_latest(self) -> None:
        note = self.ledger.latest_note
        if note is None or self._stopped:  # stopped: a task from before the unload
            return
        self._mark_unwitnessed(int(note.split("\n", 2)[1]))  # offline too: it waits all the same
        if not mqtt.is_connected(self.hass):
            return
        size = self.status.checkpoint_size
        sizes = frozenset(proof_sizes(size, list(self._asked.values())))
        if self._published == (note, sizes):
            return
        self._published = (note, sizes)
        try:
            proofs = await self.hass.async_add_executor_job(proofs_from, self.folder, sizes, size)
        except (OSError, LedgerError) as err:  # a disk fault: the ledger reports its own
            _LOGGER.warning("No consistency proofs for the community: %s", err)
            proofs = None
        message = None if proofs is None else CheckpointMessage(note, proofs).encode()
        own_topic = topic(self.prefix, Topic.CHECKPOINT, self.household)
        if message is None or not await self._async_publish(own_topic, message):
            self._published = None  # tried again at the next change or connection
        else:
            self._acknowledged = note

    def _mark_unwitnessed(self, size: int) -> None:
        self.status.checkpoint_size = size
        if self.status.witnessed_size >= size:
            self.status.unwitnessed_since = None
        elif self.status.unwitnessed_since is None:
            self.status.unwitnessed_since = dt_util.utcnow()
            if self._cancel_behind is not None:  # set for a wait that ended since
                self._cancel_behind()
            self._cancel_behind = async_call_later(self.hass, BEHIND_AFTER, self._behind_due)
        self._changed()

    @callback
    def _behind_due(self, _now: datetime) -> None:
        self._cancel_behind = None
        self._changed()

    @callback
    def _changed(self) -> None:
        async_dispatcher_send(self.hass, signal_witnessing(self.household))

    # ----- messages

    async def _async_message(self, message: mqtt.ReceiveMessage) -> None:
        parsed = parse_topic(self.prefix, message.topic)
        if parsed is None:  # under a wildcard, but no household id
            self.ignored += 1
            return
        kind, household, witness = parsed
        payload = message.payload  # bytes: subscribed without decoding, decoded when read
        try:
            async with self._lock:  # one message at a time: the witness state is written in turn
                if kind is Topic.MEMBER:
                    self._member(household, payload)
                elif household == self.household:
                    if kind is Topic.COSIGNED and witness is not None:
                        await self._async_cosigned(witness, payload)
                elif household not in self.members:
                    self.ignored += 1
                elif kind is Topic.CHECKPOINT:
                    await self._async_witness(self.members[household], payload)
        except CommunityError as err:
            self.ignored += 1
            _LOGGER.debug("Ignored %s: %s", message.topic, err)

    def _member(self, household: str, payload: Payload) -> None:
        if household == self.household:
            return
        if not payload:  # a member left: its retained message was cleared
            self.seen.pop(household, None)
            return
        member = Member.from_data(decode(payload), household)
        self.seen[household] = member
        if (admitted := self.members.get(household)) is not None:
            keys = (admitted.log_key, admitted.witness_key)
            changed = keys != (member.log_key, member.witness_key)
            witness_issues.async_key_changed(self.hass, self.entry, member, changed)

    async def _async_witness(self, member: Member, payload: Payload) -> None:
        """Cosign a member's checkpoint if it extends the one cosigned before."""
        message = CheckpointMessage.decode(payload)
        origin = member.log_key.name
        last = self.witness.cosigned.get(origin)
        try:
            size = open_checkpoint_note(message.note, member.log_key.public_key).size
        except CheckpointError:
            size = None  # the witness refuses it, with the reason
        if last is not None and last.note == message.note:
            return  # cosigned already (a retained message, delivered again)
        if last is None:
            proof: list[bytes] | None = []  # the first: nothing to be consistent with yet
        elif size is not None and size > last.size:
            # From the size this witness holds; its retained cosignature asks for it.
            proof = message.proofs.get(last.size)
        else:
            proof = []  # smaller or the same size: refused (stale, or a fork) before any proof
        if proof is None:
            return
        try:
            line = self.witness.witness(
                message.note, proof, member.log_key.public_key, int(dt_util.utcnow().timestamp())
            )
        except WitnessRefusal as refusal:
            await self._async_refused(member, refusal)
            return
        self._state[origin] = self.witness.as_data()[origin] | {"cosignature": line}
        await self.hass.async_add_executor_job(save_state, self.folder.parent, dict(self._state))
        await self._async_publish_cosigned(member)

    async def _async_publish_cosigned(self, member: Member) -> None:
        kept = self._state.get(member.log_key.name)
        if kept is not None and "cosignature" in kept:
            await self._async_publish(
                topic(self.prefix, Topic.COSIGNED, member.household, self.household),
                CosignedMessage(kept["size"], kept["cosignature"]).encode(),
            )

    async def _async_refused(self, member: Member, refusal: WitnessRefusal) -> None:
        if not refusal.reason.is_evidence:
            _LOGGER.warning(
                "Did not cosign a checkpoint of %s (%s): %s", member.name, refusal.reason, refusal
            )
            return
        last = self.witness.cosigned.get(member.log_key.name)
        path = await self.hass.async_add_executor_job(
            keep_evidence, self.folder.parent, member, refusal, None if last is None else last.note
        )
        if path is None:  # kept and reported before (a retained message, delivered again)
            _LOGGER.debug("Refused again, reported before: a checkpoint of %s", member.name)
            return
        witness_issues.async_report_refused(self.hass, self.entry, member, refusal, path)

    async def _async_cosigned(self, witness: str, payload: Payload) -> None:
        """Keep a member's cosignature of one of the household's checkpoints."""
        member = self.members.get(witness)
        if member is None:
            self.ignored += 1
            return
        message = CosignedMessage.decode(payload)
        if self._asked.get(witness) != message.size:
            self._asked[witness] = message.size
            await self._async_publish_checkpoint()  # with a proof from its size, if behind
        note = await self._async_own_note(message.size)
        if note is None:
            raise CommunityError(f"a cosignature of a checkpoint of {message.size} entries")
        cosignature = parse_cosignature(message.cosignature)
        try:
            cosignature.verify(note_text(note), member.witness_key)
        except CosignatureError as err:
            raise CommunityError(str(err)) from None
        record = (message.size, message.cosignature)
        if record not in self._kept:
            await self.hass.async_add_executor_job(
                keep_cosignature, self.folder, message.size, message.cosignature
            )
            self._kept.add(record)
        self.status.witnessed[witness] = (message.size, cosignature.timestamp)
        self._mark_unwitnessed(self.status.checkpoint_size)

    async def _async_own_note(self, size: int) -> str | None:
        ledger = self.ledger
        if ledger.latest_note is not None and size == self.status.checkpoint_size:
            return ledger.latest_note
        notes: dict[int, str] = await self.hass.async_add_executor_job(own_notes, self.folder)
        return notes.get(size)
