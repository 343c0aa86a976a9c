"""Signed notes against notes other projects published (vectors/signed_notes.json).

Go's note package (golang.org/x/mod) and the Go checksum database wrote these; reading them as
they do checks our signed-note code, key ids and verifier key format against an implementation
that is not ours.
"""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger.keys import (
    VerifierKey,
    parse_public_key,
    parse_verifier_key,
    public_key_bytes,
    verifier_key,
)
from custom_components.energy_tokens.ledger.note import (
    MAX_SIGNATURES,
    SIGNATURE_DASH,
    NoteError,
    open_note,
    sign_note,
)

VECTORS = json.loads(
    (Path(__file__).with_name("vectors") / "signed_notes.json").read_text(encoding="utf-8")
)
NOTES: dict[str, dict[str, Any]] = {note["id"]: note for note in VECTORS["notes"]}
PETER = NOTES["peter-neumann"]
SUMDB = NOTES["go-checksum-database"]


def signature_lines(note: str) -> list[str]:
    return [line + "\n" for line in note.rsplit("\n\n", maxsplit=1)[-1].splitlines()]


@pytest.mark.parametrize("vector", VECTORS["notes"], ids=lambda vector: vector["id"])
def test_published_verifier_keys_parse_and_round_trip(vector: dict[str, Any]) -> None:
    text = vector["verifier_key"]
    parsed = parse_verifier_key(text)
    name, hex_id, encoded = text.split("+", 2)
    assert parsed.name == name
    assert parsed.public_key == base64.b64decode(encoded)[1:]
    # The key id as the spec defines it, computed here independently of keys.key_id.
    spec_id = hashlib.sha256(name.encode() + b"\n\x01" + parsed.public_key).digest()[:4]
    assert parsed.key_id == spec_id == bytes.fromhex(hex_id)
    assert str(parsed) == verifier_key(name, parsed.public_key) == text
    assert parse_public_key(text) == parsed.public_key


@pytest.mark.parametrize("vector", VECTORS["notes"], ids=lambda vector: vector["id"])
def test_published_notes_verify(vector: dict[str, Any]) -> None:
    verifier = parse_verifier_key(vector["verifier_key"])
    assert open_note(vector["note"], verifier) == vector["text"]
    assert open_note(vector["note"].encode(), verifier) == vector["text"]


def test_our_signer_writes_the_published_note() -> None:
    """Ed25519 is deterministic: the published signing key must give the published note."""
    _, _, name, hex_id, encoded = PETER["signer_key"].split("+", 4)
    raw = base64.b64decode(encoded)
    assert raw[0] == 1  # Ed25519
    key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    verifier = parse_verifier_key(PETER["verifier_key"])
    assert public_key_bytes(key.public_key()) == verifier.public_key
    assert verifier.key_id.hex() == hex_id
    assert sign_note(PETER["text"], name, key) == PETER["note"]


def test_altered_text_is_rejected() -> None:
    verifier = parse_verifier_key(SUMDB["verifier_key"])
    for old, new in [("6476701", "6476702"), ("database", "Database"), ("\n\n", "\nx\n\n")]:
        with pytest.raises(NoteError, match=r"invalid signature by sum\.golang\.org"):
            open_note(SUMDB["note"].replace(old, new, 1), verifier)


def test_wrong_key_or_name_is_rejected() -> None:
    peter = parse_verifier_key(PETER["verifier_key"])
    with pytest.raises(NoteError, match="no signature by PeterNeumann"):
        open_note(SUMDB["note"], peter)  # another key entirely
    renamed = VerifierKey.of("PeterNeuman", peter.public_key)  # same key, another name
    with pytest.raises(NoteError, match="no signature by PeterNeuman"):
        open_note(PETER["note"], renamed)
    other_id = VerifierKey(peter.name, bytes(4), peter.public_key)  # right name, wrong id
    with pytest.raises(NoteError, match="no signature"):
        open_note(PETER["note"], other_id)
    # A signature line naming the key but made by another key is refused, not skipped.
    sumdb = parse_verifier_key(SUMDB["verifier_key"])
    impostor = VerifierKey(sumdb.name, sumdb.key_id, peter.public_key)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(SUMDB["note"], impostor)


def test_each_key_reads_its_own_signature_among_others() -> None:
    both = NOTES["enoch-root-beside-peter-neumann"]
    for key in (both["verifier_key"], PETER["verifier_key"]):
        assert open_note(both["note"], parse_verifier_key(key)) == both["text"]


def test_a_failing_signature_by_the_key_rejects_the_note() -> None:
    """As Go's TestOpen: a corrupted copy beside a good signature still rejects the note."""
    peter = parse_verifier_key(PETER["verifier_key"])
    good = signature_lines(PETER["note"])[0]
    corrupted = good[:60] + "ABCD" + good[60:]
    for lines in ([corrupted], [good, corrupted]):
        with pytest.raises(NoteError, match="invalid signature by PeterNeumann"):
            open_note(PETER["text"] + "\n" + "".join(lines), peter)


@pytest.mark.parametrize(
    "build",
    [  # Go's TestOpen "invalid encoded message syntax" cases, and a few more
        lambda text, sig: text,
        lambda text, sig: text + "\n",
        lambda text, sig: text + "\n" + sig[:-1],
        lambda text, sig: "\x01" + text + "\n" + sig,
        lambda text, sig: text + "\n" + sig.replace("PeterNeumann", "Bad Name"),
        lambda text, sig: text + "\n" + sig + "Unexpected line.\n",
        lambda text, sig: text + "\n" + sig + "\n",
        lambda text, sig: text + "\n" + sig.replace(" x08go", " !x08go"),
        lambda text, sig: text + "\n" + sig.replace("PeterNeumann", "Peter+Neumann"),
        lambda text, sig: text + "\n" + SIGNATURE_DASH + " PeterNeumann AAAA\n",
        lambda text, sig: text + "\n" + sig * (MAX_SIGNATURES + 1),
    ],
)
def test_malformed_notes_are_rejected(build: Any) -> None:
    peter = parse_verifier_key(PETER["verifier_key"])
    note = build(PETER["text"], signature_lines(PETER["note"])[0])
    with pytest.raises(NoteError, match="malformed note"):
        open_note(note, peter)


def test_a_note_that_is_not_utf8_is_rejected() -> None:
    peter = parse_verifier_key(PETER["verifier_key"])
    with pytest.raises(NoteError, match="not UTF-8"):
        open_note(b"\xff" + PETER["note"].encode(), peter)


def test_signing_keeps_to_the_format() -> None:
    key = Ed25519PrivateKey.generate()
    verifier = VerifierKey.of("example.org/log", public_key_bytes(key.public_key()))
    text = "example.org/log\n7\n\nblank lines are allowed in the text\n"
    assert open_note(sign_note(text, verifier.name, key), verifier) == text
    for name in ("", "two words", "a+b", "tab\tname"):
        with pytest.raises(ValueError, match="cannot name"):
            sign_note(text, name, key)
    with pytest.raises(ValueError, match="end in a newline"):
        sign_note("no newline", verifier.name, key)
    with pytest.raises(NoteError, match="control character"):
        sign_note("bell\a\n", verifier.name, key)


def test_mangled_verifier_keys_are_refused() -> None:
    """As Go's TestNewVerifier: every proper substring and every one-byte change is refused."""
    text = PETER["verifier_key"]
    for start in range(len(text)):
        for end in range(start + 1, len(text) + 1):
            if (start, end) != (0, len(text)):
                with pytest.raises(ValueError):  # noqa: PT011 (any of several reasons)
                    parse_verifier_key(text[start:end])
    for index in range(len(text)):
        changed = text[:index] + chr(ord(text[index]) + 1) + text[index + 1 :]
        with pytest.raises(ValueError):  # noqa: PT011
            parse_verifier_key(changed)
    for bad in VECTORS["bad_verifier_keys"]:
        with pytest.raises(ValueError, match="not an Ed25519 key"):
            parse_verifier_key(bad["verifier_key"])
    with pytest.raises(ValueError, match="name is empty or holds a space"):
        parse_verifier_key("a b+" + text.split("+", 1)[1])
