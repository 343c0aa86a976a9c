"""Signed notes (C2SP signed-note): text followed by Ed25519 signature lines.

A note is UTF-8 text ending in a newline, a blank line, then one or more lines
``— <key name> base64(key id || signature)``, the key id being
SHA-256(name || 0x0A || 0x01 || public key)[:4]. Checkpoints are signed notes; this module knows
nothing of checkpoints, so it reads anyone's notes (Go's checksum database, transparency logs)
and the tests check it against notes those projects published.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .keys import VerifierKey, key_id, public_key_bytes, valid_key_name

SIGNATURE_DASH = "\u2014"  # the em dash that starts a signature line
SIGNATURE_PREFIX = SIGNATURE_DASH + " "
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16; Go's note package takes 100
KEY_ID_SIZE = 4


class NoteError(ValueError):
    """A note is malformed, or no signature by the expected key verifies."""


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """Sign ``text`` (ending in a newline) as key ``name``; return the signed note."""
    if not valid_key_name(name):
        raise ValueError(f"{name!r} cannot name a signed-note key")
    _check_text(text)
    if not text.endswith("\n"):
        raise ValueError("a note's text must end in a newline")
    public = public_key_bytes(key.public_key())
    signature = key.sign(text.encode())
    encoded = base64.b64encode(key_id(name, public) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def note_text(note: str) -> str:
    """The signed text of a note, without its signature lines (what a cosignature signs too)."""
    return note[: note.rfind("\n\n") + 1]  # the text may hold blank lines: the last one ends it


def open_note(note: str | bytes, verifier: VerifierKey) -> str:
    """The text of ``note`` once a signature by ``verifier`` checks; NoteError otherwise.

    As the spec asks: signatures by other keys (another name or key id) are ignored, and a
    signature that names the verifier's key but does not verify rejects the whole note.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode()
        except UnicodeDecodeError:
            raise NoteError("malformed note: not UTF-8") from None
    _check_text(note)
    split = note.rfind("\n\n")  # the text may hold blank lines: the last one ends it
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("malformed note: the signatures do not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    public_key = Ed25519PublicKey.from_public_bytes(verifier.public_key)
    verified = False
    for line in lines:
        name, signature = _signature_line(line)
        if name != verifier.name or signature[:KEY_ID_SIZE] != verifier.key_id:
            continue
        try:
            public_key.verify(signature[KEY_ID_SIZE:], text.encode())
        except InvalidSignature:
            raise NoteError(f"invalid signature by {_label(verifier)}") from None
        verified = True
    if not verified:
        raise NoteError(f"no signature by {_label(verifier)}")
    return text


def _check_text(text: str) -> None:
    # Control characters other than the newline are refused: a note must read as it is signed.
    if any(char < " " and char != "\n" for char in text):
        raise NoteError("malformed note: it holds a control character")


def _signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("malformed note: a signature line does not start with an em dash")
    name, _, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
    if not valid_key_name(name):
        raise NoteError("malformed note: a signature line names no valid key")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError("malformed note: a signature is not base64") from None
    if len(signature) <= KEY_ID_SIZE:
        raise NoteError("malformed note: a signature is too short")
    return name, signature


def _label(verifier: VerifierKey) -> str:
    return f"{verifier.name}+{verifier.key_id.hex()}"
