"""Witness cosignatures (C2SP tlog-cosignature v1) and the auditor's quorum check."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
import shutil

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import cli
from custom_components.energy_tokens.ledger.cosignature import (
    COSIGNATURES_FILE,
    CosignatureError,
    WitnessKey,
    check_witnesses,
    cosign,
    cosigned_message,
    count_witnesses,
    keep_cosignature,
    parse_cosignature,
    parse_witness_key,
    read_cosignatures,
)
from custom_components.energy_tokens.ledger.keys import public_key_bytes
from custom_components.energy_tokens.ledger.reader import read_checkpoints, read_genesis

from .vector_ledger import LEDGER, RFC8032_TEST1_PUBLIC_KEY, vector_key

# The example checkpoint of the C2SP tlog-cosignature specification.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def _witness(seed: int, name: str) -> tuple[Ed25519PrivateKey, WitnessKey]:
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(bytes([seed])).digest())
    return key, WitnessKey(name, public_key_bytes(key.public_key()))


def test_the_signed_message_and_key_id_are_the_specifications() -> None:
    assert cosigned_message(SPEC_BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY.encode()
    )
    # SHA-256(<name> || "\n" || 0x04 || 32-byte key)[:4], computed here from the text of the spec.
    _, witness = _witness(1, "witness.example.com/w1")
    expected = hashlib.sha256(b"witness.example.com/w1\n\x04" + witness.public_key).digest()[:4]
    assert witness.key_id == expected
    assert parse_witness_key(str(witness)) == witness
    assert str(witness).startswith(f"witness.example.com/w1+{expected.hex()}+")


def test_a_cosignature_line_carries_key_id_time_and_signature() -> None:
    key, witness = _witness(1, "witness.example.com/w1")
    line = cosign(SPEC_BODY, witness.name, key, 1679315147)
    name, encoded = line.removeprefix("\u2014 ").split(" ")
    raw = base64.b64decode(encoded)
    assert name == witness.name
    assert raw[:4] == witness.key_id
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    assert len(raw) == 76
    assert count_witnesses(SPEC_BODY, [line], [witness]) == {witness.name: 1679315147}
    # Another key is ignored; an altered body, time or signature by this key is refused.
    other_key, other = _witness(2, "witness.example.com/w2")
    assert (
        count_witnesses(SPEC_BODY, [cosign(SPEC_BODY, other.name, other_key, 5)], [witness]) == {}
    )
    with pytest.raises(CosignatureError, match="invalid cosignature"):
        count_witnesses(SPEC_BODY.replace("20852163", "20852164"), [line], [witness])
    forged = base64.b64encode(raw[:4] + (5).to_bytes(8, "big") + raw[12:]).decode()
    with pytest.raises(CosignatureError, match="invalid cosignature"):
        count_witnesses(SPEC_BODY, [f"\u2014 {name} {forged}"], [witness])
    same_name = cosign(SPEC_BODY, witness.name, other_key, 5)  # another key under the name
    assert count_witnesses(SPEC_BODY, [same_name], [witness]) == {}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("no dash", "em dash"),
        ("\u2014 w1 !!!", "not valid base64"),
        ("\u2014 w1 " + base64.b64encode(bytes(10)).decode(), "malformed"),
        ("\u2014 w1 " + base64.b64encode(bytes(4) + b"\xff" * 8 + bytes(64)).decode(), "2\\*\\*63"),
    ],
)
def test_malformed_cosignatures_are_refused(line: str, message: str) -> None:
    with pytest.raises(CosignatureError, match=message):
        parse_cosignature(line)


def test_witness_keys_are_checked() -> None:
    _, witness = _witness(1, "w1")
    text = str(witness)
    for bad, message in [
        ("w1", "name\\+id\\+key"),
        (text.replace(witness.key_id.hex(), "00000000"), "id does not match"),
        (text.rsplit("+", 1)[0] + "+" + base64.b64encode(b"\x01" + bytes(32)).decode(), "not an"),
        (text.rsplit("+", 1)[0] + "+!!", "not valid base64"),
        (" +" + text.split("+", 1)[1], "name"),
    ]:
        with pytest.raises(CosignatureError, match=message):
            parse_witness_key(bad)


def _cosigned_copy(tmp_path: Path, seeds: list[int], every: bool = False) -> tuple[Path, list[str]]:
    """The vector ledger, its latest (or every) checkpoint cosigned by these witnesses."""
    folder = tmp_path / "ledger"
    shutil.copytree(LEDGER, folder)
    checkpoints, _, _ = read_checkpoints(folder, read_genesis(folder).public_key)
    keys = []
    for seed in seeds:
        key, witness = _witness(seed, f"witness{seed}.example")
        keys.append(str(witness))
        for checkpoint in checkpoints if every else checkpoints[-1:]:
            body = checkpoint.note[: checkpoint.note.rfind("\n\n") + 1]
            keep_cosignature(folder, checkpoint.size, cosign(body, witness.name, key, 1_800_000))
    return folder, keys


def _audit(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(["verify", *args], out=out)
    return code, out.getvalue()


def test_the_auditor_counts_a_quorum_of_witnesses(tmp_path: Path) -> None:
    folder, keys = _cosigned_copy(tmp_path, [1, 2, 3])
    _, stranger = _witness(9, "witness9.example")
    code, text = _audit(str(folder), "--witness", *keys, str(stranger), "--quorum", "3")
    assert code == 0, text
    assert "witnessed: the checkpoint of entry 43 by witness1.example, witness2.example" in text
    code, text = _audit(str(folder), "--witness", *keys, str(stranger))  # all four by default
    assert code == 1
    assert "NOT WITNESSED: the checkpoint of entry 43 has 3 of the 4 cosignatures" in text
    code, text = _audit(str(folder), "--witness", *keys, "--quorum", "2", "--every-checkpoint")
    assert code == 1  # only the latest was cosigned
    assert "the checkpoint of entry 9 has 0 of the 2" in text
    code, text = _audit(str(folder), "--witness", keys[0], "--json")
    document = json.loads(text)
    assert document["valid"] is True
    assert document["witnessed"] == {
        "quorum": 1,
        "checkpoints": [{"size": 43, "witnesses": ["witness1.example"]}],
        "problem": None,
    }
    key_file = tmp_path / "w1.vkey"
    key_file.write_text(keys[0] + "\n")
    assert _audit(str(folder), "--witness", str(key_file))[0] == 0  # a key kept in a file
    assert _audit(str(folder), "--witness", keys[0], "--quorum", "2")[0] == 2  # impossible quorum


def test_every_checkpoint_cosigned_and_a_forgery_among_them(tmp_path: Path) -> None:
    folder, keys = _cosigned_copy(tmp_path, [1, 2], every=True)
    assert _audit(str(folder), "--witness", *keys, "--every-checkpoint")[0] == 0
    # A cosignature under witness 1's name and key id that it did not make: refused, loudly.
    kept = read_cosignatures(folder)
    latest = max(kept)
    line = kept[latest][0]
    name, encoded = line.removeprefix("\u2014 ").split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    keep_cosignature(folder, latest, f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}")
    code, text = _audit(str(folder), "--witness", *keys)
    assert code == 1
    assert "invalid cosignature by witness1.example" in text


def test_the_cosignatures_file_survives_a_cut_last_line(tmp_path: Path) -> None:
    folder, keys = _cosigned_copy(tmp_path, [1])
    path = folder / COSIGNATURES_FILE
    path.write_bytes(path.read_bytes() + b'{"size": 43, "cosig')  # a write a crash cut short
    assert _audit(str(folder), "--witness", *keys)[0] == 0
    path.write_bytes(path.read_bytes() + b"\nnot json\n")
    with pytest.raises(CosignatureError, match="line 2"):
        read_cosignatures(folder)
    with pytest.raises(CosignatureError):
        keep_cosignature(folder, 43, "no dash")  # refused before anything is written
    assert read_cosignatures(tmp_path) == {}  # a folder without cosignatures


def test_a_checkpoints_own_signature_is_no_cosignature() -> None:
    """The household's signature line over its checkpoint never counts as a witness's."""
    household = WitnessKey("energy-tokens/vectors", RFC8032_TEST1_PUBLIC_KEY)
    checkpoint = read_checkpoints(LEDGER, RFC8032_TEST1_PUBLIC_KEY)[0][-1]
    body = checkpoint.note[: checkpoint.note.rfind("\n\n") + 1]
    own_signature_line = checkpoint.note[checkpoint.note.rfind("\n\n") + 2 :].strip()
    assert count_witnesses(body, [], [household]) == {}
    with pytest.raises(CosignatureError):
        count_witnesses(body, [own_signature_line], [household])  # 68 bytes: no cosignature
    line = cosign(body, household.name, vector_key(), 1)
    assert count_witnesses(body, [line], [household]) == {household.name: 1}


def test_what_cannot_be_cosigned_or_kept_is_refused(tmp_path: Path) -> None:
    key, witness = _witness(1, "w1")
    with pytest.raises(CosignatureError, match="below 2\\*\\*63"):
        cosigned_message(SPEC_BODY, -1)
    with pytest.raises(CosignatureError, match="ends in a newline"):
        cosigned_message(SPEC_BODY.rstrip("\n"), 1)
    with pytest.raises(CosignatureError, match="cannot name a witness key"):
        cosign(SPEC_BODY, "two words", key, 1)
    _, other = _witness(2, "w2")
    with pytest.raises(CosignatureError, match="another key than w2"):
        parse_cosignature(cosign(SPEC_BODY, "w1", key, 1)).verify(SPEC_BODY, other)
    (tmp_path / COSIGNATURES_FILE).write_text('\n{"size": "43", "cosignature": "x"}\n')
    with pytest.raises(CosignatureError, match="line 2: malformed"):
        read_cosignatures(tmp_path)
    assert str(witness).startswith("w1+")


def test_a_ledger_with_no_checkpoint_yet_is_not_witnessed(tmp_path: Path) -> None:
    from custom_components.energy_tokens.ledger import Ledger

    ledger = Ledger.create(tmp_path / "ledger", vector_key(), "h")  # genesis, nothing signed yet
    _, witness = _witness(1, "w1")
    result = check_witnesses(tmp_path / "ledger", [witness], 1, every_checkpoint=False)
    assert result.problem == "the ledger has no signed checkpoint to witness"
    ledger.close()
