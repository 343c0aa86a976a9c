"""The committed vectors (tests/ledger/vectors/) pin the ledger's bytes on disk.

vector_ledger.py holds the recipe. Any change to the encoding, framing, checkpoints or signing
changes a committed byte and fails here; a deliberate one regenerates them (see its docstring).
"""

import json
from pathlib import Path
import struct
from typing import Any

import pytest

from custom_components.energy_tokens.ledger import Kind, iter_entries, verify_ledger
from custom_components.energy_tokens.ledger.entries import decode_payload
from custom_components.energy_tokens.ledger.keys import parse_public_key, public_key_bytes
from custom_components.energy_tokens.ledger.layout import VERIFIER_KEY_FILE, list_segments

from .vector_ledger import (
    EXPECTED,
    LEDGER,
    OUTPUTS,
    PAYLOADS,
    RFC8032_TEST1_PUBLIC_KEY,
    RFC8032_TEST1_SECRET_KEY,
    RFC8032_TEST1_SIGNATURE,
    auditor_outputs,
    build_vector_ledger,
    decoded_fields,
    encode_fields,
    ledger_files,
    payload_vectors,
    vector_key,
    vector_mismatches,
    write_vectors,
)


@pytest.fixture(scope="module", autouse=True)
def regenerate(request: pytest.FixtureRequest) -> None:
    """With --regenerate-ledger-vectors, rewrite the vectors first; the tests then check them."""
    if request.config.getoption("--regenerate-ledger-vectors", default=False):
        write_vectors()


def committed_payloads() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PAYLOADS.read_text(encoding="utf-8"))
    return document


def test_the_key_is_rfc8032_test_1() -> None:
    key = vector_key()
    assert public_key_bytes(key.public_key()) == RFC8032_TEST1_PUBLIC_KEY
    assert key.sign(b"") == RFC8032_TEST1_SIGNATURE
    key_info = committed_payloads()["key"]
    assert bytes.fromhex(key_info["secret_key"]) == RFC8032_TEST1_SECRET_KEY
    assert bytes.fromhex(key_info["public_key"]) == RFC8032_TEST1_PUBLIC_KEY
    vkey = (LEDGER / VERIFIER_KEY_FILE).read_text(encoding="utf-8")
    assert vkey.strip() == key_info["verifier_key"]
    assert parse_public_key(vkey) == RFC8032_TEST1_PUBLIC_KEY


def test_building_anew_writes_the_committed_bytes(tmp_path: Path) -> None:
    build_vector_ledger(tmp_path / "ledger")
    built, committed = ledger_files(tmp_path / "ledger"), ledger_files(LEDGER)
    assert sorted(built) == sorted(committed)
    for name, data in committed.items():
        assert built[name] == data, f"{name} differs from the committed vector"


def test_the_vector_ledger_covers_every_kind_period_and_checkpoints() -> None:
    entries = list(iter_entries(LEDGER))
    assert {entry.kind for entry in entries} == set(Kind)
    assert 30 <= len(entries) <= 80  # a few dozen: small enough to read
    assert len(list_segments(LEDGER)) == 4  # the genesis segment, then one per period
    result = verify_ledger(LEDGER, RFC8032_TEST1_PUBLIC_KEY)
    assert result.valid, result.reason
    assert result.checkpoints_verified >= 5
    assert result.entries == len(entries)


def test_the_committed_ledger_gives_the_committed_outputs() -> None:
    outputs = auditor_outputs(LEDGER)
    assert sorted(path.name for path in EXPECTED.iterdir()) == sorted(name for _, name in OUTPUTS)
    for name, text in outputs.items():
        expected = (EXPECTED / name).read_bytes().decode().replace("{ledger}", str(LEDGER))
        assert text == expected, f"{name} differs from the committed output"
    assert json.loads(outputs["verify.json"])["valid"] is True


def test_payload_vectors_encode_decode_and_hash() -> None:
    vectors = committed_payloads()["vectors"]
    assert [vector["kind"] for vector in vectors] == [kind.name.lower() for kind in Kind]
    assert vector_mismatches(vectors) == []
    # They are the committed ledger's own entries: the export names the same hashes.
    exported = {
        row["seq"]: row
        for row in map(json.loads, (EXPECTED / "export.jsonl").read_text().splitlines())
    }
    for vector in vectors:
        row = exported[vector["fields"]["seq"]]
        assert (row["kind"], row["hash"]) == (vector["kind"], vector["hash"])
    assert payload_vectors(LEDGER) == vectors


def test_a_one_byte_change_in_the_encoding_is_caught() -> None:
    """Every byte of every payload: an encoder that alters it fails the comparison."""
    vectors = committed_payloads()["vectors"]
    for vector in vectors:
        for position in range(len(vector["payload"]) // 2):

            def altered(fields: dict[str, Any], position: int = position) -> bytes:
                encoded = bytearray(encode_fields(fields))
                encoded[position] ^= 0x01
                return bytes(encoded)

            problems = vector_mismatches([vector], encode=altered)
            assert f"{vector['kind']}: encodes to other bytes" in problems, position


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("HEADER", struct.Struct(">BBQqQII32sBBH")),  # the header's byte order, both ways
        ("ENTRY_TAG", 0x46),  # the record tag, written and expected
    ],
)
def test_a_change_to_encoder_and_decoder_alike_is_caught(
    monkeypatch: pytest.MonkeyPatch, attribute: str, value: object
) -> None:
    """A round trip cannot see a change made on both sides; the committed bytes do."""
    from custom_components.energy_tokens.ledger import entries

    vectors = committed_payloads()["vectors"]
    monkeypatch.setattr(entries, attribute, value)
    for vector in vectors:  # the changed encoding still round-trips...
        fields = vector["fields"]
        assert decoded_fields(decode_payload(encode_fields(fields))) == fields
    problems = vector_mismatches(vectors)  # ...but not to the committed bytes
    for vector in vectors:
        assert f"{vector['kind']}: encodes to other bytes" in problems
        decoding = (f"{vector['kind']}: does not decode", f"{vector['kind']}: decodes to other")
        assert any(problem.startswith(decoding) for problem in problems)
