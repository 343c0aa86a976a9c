"""Witness cosignatures of checkpoints (C2SP tlog-cosignature, Ed25519 ``cosignature/v1``).

A witness that verified a checkpoint consistent with the last one it cosigned signs the lines
``cosignature/v1`` and ``time <seconds>`` followed by the checkpoint's note body; the signature line
is ``— <witness name> base64(key id || timestamp (u64, big-endian) || signature)``, the key id
being SHA-256(name || 0x0A || 0x04 || public key)[:4]. A household keeps the cosignatures it
receives in ``cosignatures.log`` beside its checkpoints (one JSON object per line: the
checkpoint's size and the signature line); they authenticate themselves, so the file needs no
signature of its own, and the auditor counts only those that verify with the witness keys it is
given (``energy-tokens-ledger verify --witness KEY --quorum N``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import json
import os
from pathlib import Path
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .framing import write_all
from .keys import key_id, public_key_bytes, read_vkey, valid_key_name, verifier_key
from .note import SIGNATURE_PREFIX, note_text
from .reader import read_checkpoints, read_genesis

COSIGNATURE_ALG = b"\x04"  # signed-note algorithm byte of an Ed25519 cosignature/v1 key
COSIGNATURES_FILE = "cosignatures.log"
_TIMESTAMP = struct.Struct(">Q")
MAX_TIMESTAMP = 2**63 - 1


class CosignatureError(ValueError):
    """A cosignature or a witness key that is malformed, or a signature that does not verify."""


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || 0x04 || key)[:4]: the key id of a cosignature/v1 key."""
    return key_id(name, public_key, COSIGNATURE_ALG)


@dataclass(frozen=True, slots=True)
class WitnessKey:
    """A witness: its name and Ed25519 public key (a ``cosignature/v1`` verifier key)."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        """Its cosignature key id."""
        return cosigner_key_id(self.name, self.public_key)

    def __str__(self) -> str:
        """The vkey text: ``name+hexid+base64(0x04 || key)``."""
        return verifier_key(self.name, self.public_key, COSIGNATURE_ALG)


def parse_witness_key(text: str) -> WitnessKey:
    """Read a witness vkey ``name+hexid+base64(0x04 || key)``; CosignatureError if it is not."""
    try:
        return WitnessKey(*read_vkey(text, COSIGNATURE_ALG, "witness key"))
    except ValueError as err:
        raise CosignatureError(str(err)) from None


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: its header, its time, then the checkpoint's whole body."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError("a cosignature's time is a POSIX timestamp below 2**63")
    if not body.endswith("\n"):
        raise CosignatureError("a checkpoint body ends in a newline")
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def cosign(body: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """The signature line of witness ``name`` over a checkpoint ``body`` at ``timestamp``."""
    if not valid_key_name(name):
        raise CosignatureError(f"{name!r} cannot name a witness key")
    signature = key.sign(cosigned_message(body, timestamp))
    public = public_key_bytes(key.public_key())
    raw = cosigner_key_id(name, public) + _TIMESTAMP.pack(timestamp) + signature
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(raw).decode()}"


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A parsed cosignature line: who (by name and key id), when, and the signature."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def verify(self, body: str, witness: WitnessKey) -> None:
        """Check it is ``witness``'s over ``body``; CosignatureError otherwise."""
        if (self.name, self.key_id) != (witness.name, witness.key_id):
            raise CosignatureError(f"a cosignature by another key than {witness.name}")
        try:
            Ed25519PublicKey.from_public_bytes(witness.public_key).verify(
                self.signature, cosigned_message(body, self.timestamp)
            )
        except InvalidSignature:
            raise CosignatureError(f"an invalid cosignature by {witness.name}") from None


def parse_cosignature(line: str) -> Cosignature:
    """Read ``— name base64(key id || timestamp || signature)``; CosignatureError if malformed."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise CosignatureError("a cosignature line starts with an em dash")
    name, _, encoded = line.removeprefix(SIGNATURE_PREFIX).strip().partition(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error as err:
        raise CosignatureError(f"a cosignature is not valid base64: {err}") from err
    if not valid_key_name(name) or len(raw) != 4 + 8 + 64:
        raise CosignatureError("a cosignature line is malformed")
    (timestamp,) = _TIMESTAMP.unpack_from(raw, 4)
    if timestamp > MAX_TIMESTAMP:
        raise CosignatureError("a cosignature's time is beyond 2**63")
    return Cosignature(name, raw[:4], timestamp, raw[12:])


def count_witnesses(
    body: str, lines: Iterable[str], witnesses: Sequence[WitnessKey]
) -> dict[str, int]:
    """The witnesses (by name) whose cosignature of ``body`` is among ``lines``, with its time.

    Lines by other keys are ignored; a line that names one of ``witnesses`` (name and key id)
    but does not verify raises CosignatureError: a forged cosignature is not merely uncounted.
    """
    by_id = {(w.name, w.key_id): w for w in witnesses}
    found: dict[str, int] = {}
    for line in lines:
        cosignature = parse_cosignature(line)
        witness = by_id.get((cosignature.name, cosignature.key_id))
        if witness is not None:
            cosignature.verify(body, witness)
            found[witness.name] = max(found.get(witness.name, 0), cosignature.timestamp)
    return found


def read_cosignatures(directory: Path) -> dict[int, list[str]]:
    """The cosignature lines kept in a ledger folder, by checkpoint size (none: empty)."""
    path = directory / COSIGNATURES_FILE
    if not path.exists():
        return {}
    kept: dict[int, list[str]] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    # The last line has no newline only if a crash cut its write short: it was never kept.
    for number, text in enumerate(lines[:-1], 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            size, line = record["size"], record["cosignature"]
        except (ValueError, KeyError, TypeError) as err:
            raise CosignatureError(f"{COSIGNATURES_FILE} line {number}: {err}") from err
        if type(size) is not int or not isinstance(line, str):
            raise CosignatureError(f"{COSIGNATURES_FILE} line {number}: malformed")
        kept.setdefault(size, []).append(line)
    return kept


def keep_cosignature(directory: Path, size: int, line: str) -> None:
    """Append a received cosignature of the checkpoint of ``size`` to the folder's file, durably.

    Blocking (an fsync): run it in an executor. The line is parsed first: a malformed one is
    refused and nothing is written.
    """
    parse_cosignature(line)
    record = json.dumps({"size": size, "cosignature": line}, ensure_ascii=False) + "\n"
    fd = os.open(directory / COSIGNATURES_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        write_all(fd, record.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(slots=True)
class Witnessed:
    """Which given witnesses cosigned which checkpoints, and whether that meets the quorum."""

    quorum: int
    cosigned: dict[int, list[str]]  # checkpoint size: the witnesses whose cosignature verified
    problem: str | None  # why the quorum is not met; None when it is

    @property
    def summary(self) -> str:
        """One line for the auditor's text output."""
        size = max(self.cosigned)
        names = ", ".join(self.cosigned[size])
        return f"witnessed: the checkpoint of entry {size} by {names} (quorum {self.quorum})"

    def as_dict(self) -> dict[str, object]:
        """The JSON form."""
        return {
            "quorum": self.quorum,
            "checkpoints": [
                {"size": size, "witnesses": names} for size, names in self.cosigned.items()
            ],
            "problem": self.problem,
        }


def check_witnesses(
    directory: Path, witnesses: Sequence[WitnessKey], quorum: int, every_checkpoint: bool
) -> Witnessed:
    """Whether the latest checkpoint (or every one) has ``quorum`` cosignatures of ``witnesses``.

    The ledger is verified first (verify.py); this reads its checkpoints and the cosignatures
    kept beside them.
    """
    if not 1 <= quorum <= len(witnesses):
        raise ValueError(f"a quorum of {quorum} out of {len(witnesses)} witnesses")
    genesis = read_genesis(directory)
    checkpoints, _, _ = read_checkpoints(directory, genesis.public_key)
    if not checkpoints:
        return Witnessed(quorum, {0: []}, "the ledger has no signed checkpoint to witness")
    kept = read_cosignatures(directory)
    cosigned: dict[int, list[str]] = {}
    problem = None
    for checkpoint in checkpoints if every_checkpoint else checkpoints[-1:]:
        body = note_text(checkpoint.note)
        try:
            found = count_witnesses(body, kept.get(checkpoint.size, []), witnesses)
        except CosignatureError as err:
            found, problem = {}, f"the checkpoint of entry {checkpoint.size}: {err}"
        cosigned[checkpoint.size] = sorted(found)
        if problem is None and len(found) < quorum:
            problem = (
                f"the checkpoint of entry {checkpoint.size} has {len(found)} of the {quorum} "
                "cosignatures required from the witnesses given"
            )
    return Witnessed(quorum, cosigned, problem)
