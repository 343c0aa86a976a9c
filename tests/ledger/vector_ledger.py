"""The ledger's test vectors (tests/ledger/vectors/): how they are built and how they are compared.

A small ledger of every entry kind, three periods and several checkpoints, written with the
published RFC 8032 test key and a clock that moves only when told. Ed25519 signatures are
deterministic, so the same recipe writes the same bytes: the committed files pin the format.

Regenerate them only for a deliberate change of the on-disk format, then review the diff:

    scripts/test tests/ledger/test_vectors.py --regenerate-ledger-vectors
"""

from collections.abc import Callable
import io
import json
from pathlib import Path
import shutil
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custom_components.energy_tokens.ledger import Cause, CauseKind, Kind, Ledger, iter_entries
from custom_components.energy_tokens.ledger.cli import main
from custom_components.energy_tokens.ledger.entries import (
    RawEntry,
    canonical_json,
    decode_payload,
    encode_payload,
    entry_hash,
)
from custom_components.energy_tokens.ledger.framing import MAGIC_SIZE, BadFrame, scan_frames
from custom_components.energy_tokens.ledger.layout import VERIFIER_KEY_FILE, list_segments

VECTORS = Path(__file__).with_name("vectors")
LEDGER = VECTORS / "ledger"
EXPECTED = VECTORS / "expected"
PAYLOADS = VECTORS / "payloads.json"

# RFC 8032, section 7.1, TEST 1: a published Ed25519 test key, never a secret.
RFC8032_TEST1_SECRET_KEY = bytes.fromhex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
)
RFC8032_TEST1_PUBLIC_KEY = bytes.fromhex(
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)
RFC8032_TEST1_SIGNATURE = bytes.fromhex(  # of the empty message
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
HOUSEHOLD = "vectors"
START_MS = 1_795_000_000_000
STEP_MS = 60_000

USER = Cause(CauseKind.USER, "5c0ffee0d15ea5e5")
METERING = Cause(CauseKind.METERING)
AUTOMATION = Cause(CauseKind.AUTOMATION, "automation.borrow_when_low")
VOICE = Cause(CauseKind.VOICE, "satellite.küche")  # a non-ASCII cause reference

# (argv, file) for every expected output of the auditor's command.
OUTPUTS: list[tuple[list[str], str]] = [
    (["verify", "{ledger}", "--pubkey", "{ledger}/public.vkey"], "verify.txt"),
    (["verify", "{ledger}", "--pubkey", "{ledger}/public.vkey", "--json"], "verify.json"),
    (["balances", "{ledger}", "--pubkey", "{ledger}/public.vkey"], "balances.txt"),
    (["export", "{ledger}"], "export.jsonl"),
    (["export", "{ledger}", "--format", "csv"], "export.csv"),
]


class StepClock:
    """Epoch milliseconds that change only when the recipe says so."""

    def __init__(self) -> None:
        self.now = START_MS

    def __call__(self) -> int:
        return self.now


def vector_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(RFC8032_TEST1_SECRET_KEY)


def build_vector_ledger(directory: Path) -> Ledger:
    """Write the vector ledger into ``directory`` (which must not exist) and close it."""
    clock = StepClock()
    ledger = Ledger.create(
        directory,
        vector_key(),
        HOUSEHOLD,
        clock=clock,
        checkpoint_every=8,
        checkpoint_interval_ms=86_400_000,  # checkpoints by count and period close only
    )

    def add(kind: Kind, **options: Any) -> None:
        clock.now += STEP_MS
        ledger.append(kind, **options)

    def debits(device: str, meter: str, start: int, count: int) -> int:
        for _ in range(count):
            add(
                Kind.DEBIT,
                from_account=device,
                to_account="consumed",
                amount=1_250,
                cause=METERING,
                data={"meter": meter, "wh": [start, start + 1_250]},
            )
            start += 1_250
        return start

    # Period 1: buy, allocate, meter, debit, move tokens about, settle.
    add(Kind.PERIOD_OPEN, data={"period": "2026-11", "start_ms": START_MS})
    add(
        Kind.PURCHASE,
        from_account="provider",
        to_account="pool",
        amount=800_000,
        cause=USER,
        data={"price_milli_per_token": 250, "currency": "EUR"},
    )
    add(Kind.ALLOCATE, from_account="pool", to_account="device:dryer", amount=300_000)
    add(Kind.ALLOCATE, from_account="pool", to_account="device:heater", amount=200_000)
    ledger.commit()
    add(
        Kind.METER,
        cause=METERING,
        data={"device": "device:dryer", "meter": "sensor.dryer_energy", "wh": 1_200_000},
    )
    reading = debits("device:dryer", "sensor.dryer_energy", 1_200_000, 3)
    ledger.commit()
    add(
        Kind.TRANSFER,
        from_account="device:dryer",
        to_account="device:heater",
        amount=3_000,
        cause=USER,
        data={"note": "kalte Nacht \u2744", "flags": [True, None]},
    )
    add(
        Kind.BORROW,
        from_account="device:heater",
        to_account="device:dryer",
        amount=2_000,
        cause=AUTOMATION,
        data={"repay_period": "2026-12"},
    )
    add(
        Kind.LINK,
        cause=USER,
        data={
            "seq": 12,
            "peer_household": "neighbours",
            "peer_seq": 42,
            "peer_hash": "ab" * 32,
        },
    )
    add(
        Kind.SALE,
        from_account="device:heater",
        to_account="market",
        amount=50_000,
        data={"price_milli_per_token": 120},
    )
    add(
        Kind.ADJUST,
        from_account="device:heater",
        to_account="pool",
        amount=5,
        cause=USER,
        data={"reason": "allowance lowered"},
    )
    ledger.commit()
    add(Kind.ROLLOVER, from_account="device:dryer", to_account="pool", amount=100_000)
    add(Kind.FORFEIT, from_account="device:heater", to_account="provider", amount=1_000)
    add(Kind.PERIOD_CLOSE, data={"period": "2026-11", "consumed": 3_750})
    ledger.commit()

    # Period 2: a voice transfer, a meter reset, entries with no data at all.
    add(Kind.PERIOD_OPEN, data={"period": "2026-12", "start_ms": clock.now + STEP_MS})
    add(Kind.ALLOCATE, from_account="pool", to_account="device:dryer", amount=250_000)
    add(Kind.ALLOCATE, from_account="pool", to_account="device:heater", amount=150_000)
    reading = debits("device:dryer", "sensor.dryer_energy", reading, 2)
    add(
        Kind.TRANSFER,
        from_account="device:heater",
        to_account="device:dryer",
        amount=7_500,
        cause=VOICE,
    )
    add(
        Kind.METER,
        cause=Cause(CauseKind.USER),
        data={"device": "device:dryer", "meter": "sensor.dryer_energy", "wh": 0, "reset": True},
    )
    ledger.commit()
    debits("device:dryer", "sensor.dryer_energy", 0, 4)
    add(Kind.ROLLOVER, from_account="device:heater", to_account="pool", amount=40_000)
    add(Kind.PERIOD_CLOSE)
    ledger.commit()

    # Period 3, still open: its entries are covered by the checkpoint closing signs.
    add(Kind.PERIOD_OPEN, data={"period": "2027-01"})
    add(Kind.ALLOCATE, from_account="pool", to_account="device:dryer", amount=10_000)
    # Names for the auditor (a rename is a second label), an allowance for the next period.
    add(Kind.LABEL, data={"account": "household", "name": "Vectors"})
    add(Kind.LABEL, data={"account": "device:dryer", "name": "Dryer"})
    add(Kind.LABEL, data={"account": "device:heater", "name": "Heater"})
    add(Kind.LABEL, cause=USER, data={"account": "device:heater", "name": "Wärmepumpe"})
    add(
        Kind.ALLOWANCE,
        cause=USER,
        data={"device": "device:heater", "allowance": 120_000, "period": "2027-02"},
    )
    ledger.close()
    return ledger


def ledger_files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def auditor_outputs(directory: Path) -> dict[str, str]:
    """What ``energy-tokens-ledger`` prints for the vector ledger at ``directory``."""
    outputs = {}
    for argv, name in OUTPUTS:
        out = io.StringIO()
        code = main([arg.replace("{ledger}", str(directory)) for arg in argv], out=out)
        assert code == 0, (argv, out.getvalue())
        outputs[name] = out.getvalue()
    return outputs


def payload_vectors(directory: Path) -> list[dict[str, Any]]:
    """The first entry of each kind: its fields, its payload in hex and its hash."""
    vectors: dict[int, dict[str, Any]] = {}
    data_by_seq = {entry.seq: entry.data for entry in iter_entries(directory)}
    for path in list_segments(directory):
        with path.open("rb") as handle:
            for item in scan_frames(handle, MAGIC_SIZE):
                assert not isinstance(item, BadFrame)
                payload = bytes(item[1])
                raw = decode_payload(payload)
                if raw.kind in vectors:
                    continue
                vectors[raw.kind] = {
                    "kind": Kind(raw.kind).name.lower(),
                    "fields": {
                        "kind": raw.kind,
                        "seq": raw.seq,
                        "ts_ms": raw.ts_ms,
                        "amount": raw.amount,
                        "from_id": raw.from_id,
                        "to_id": raw.to_id,
                        "prev_hash": raw.prev_hash.hex(),
                        "cause_kind": raw.cause_kind,
                        "cause_ref": raw.cause_ref,
                        "data": data_by_seq[raw.seq] if raw.data else None,
                    },
                    "payload": payload.hex(),
                    "hash": entry_hash(payload).hex(),
                }
    return [vectors[kind] for kind in sorted(vectors)]


def encode_fields(fields: dict[str, Any]) -> bytes:
    """A vector's fields encoded as the writer encodes them (data through canonical JSON)."""
    return encode_payload(
        kind=Kind(fields["kind"]),
        seq=fields["seq"],
        ts_ms=fields["ts_ms"],
        amount=fields["amount"],
        from_id=fields["from_id"],
        to_id=fields["to_id"],
        prev_hash=bytes.fromhex(fields["prev_hash"]),
        cause=Cause(CauseKind(fields["cause_kind"]), fields["cause_ref"]),
        data=canonical_json(fields["data"]) if fields["data"] is not None else b"",
    )


def decoded_fields(raw: RawEntry) -> dict[str, Any]:
    return {
        "kind": raw.kind,
        "seq": raw.seq,
        "ts_ms": raw.ts_ms,
        "amount": raw.amount,
        "from_id": raw.from_id,
        "to_id": raw.to_id,
        "prev_hash": raw.prev_hash.hex(),
        "cause_kind": raw.cause_kind,
        "cause_ref": raw.cause_ref,
        "data": json.loads(raw.data) if raw.data else None,
    }


def vector_mismatches(
    vectors: list[dict[str, Any]],
    encode: Callable[[dict[str, Any]], bytes] = encode_fields,
    decode: Callable[[bytes], RawEntry] = decode_payload,
) -> list[str]:
    """Every way the encoder and decoder disagree with the committed payload vectors.

    The encoding is compared with the committed hex, not only round-tripped: a change made to
    the encoder and the decoder alike would round-trip and still be caught here.
    """
    problems = []
    for vector in vectors:
        name = vector["kind"]
        encoded = encode(vector["fields"])
        if encoded.hex() != vector["payload"]:
            problems.append(f"{name}: encodes to other bytes")
        if entry_hash(encoded).hex() != vector["hash"]:
            problems.append(f"{name}: hashes differently")
        try:
            decoded = decoded_fields(decode(bytes.fromhex(vector["payload"])))
        except ValueError as err:
            problems.append(f"{name}: does not decode ({err})")
        else:
            if decoded != vector["fields"]:
                problems.append(f"{name}: decodes to other fields")
    return problems


def write_vectors() -> None:
    """Rebuild every ledger vector file (not signed_notes.json: it is copied from its sources)."""
    shutil.rmtree(LEDGER, ignore_errors=True)
    build_vector_ledger(LEDGER)
    for path in LEDGER.iterdir():
        path.chmod(0o644)  # created private (0600): the vectors are public test data
    EXPECTED.mkdir(exist_ok=True)
    for name, text in auditor_outputs(LEDGER).items():
        (EXPECTED / name).write_bytes(text.replace(str(LEDGER), "{ledger}").encode())
    document = {
        "about": (
            "The first entry of each kind in vectors/ledger: its fields, its payload (the bytes "
            "hashed and stored, framed, in the segment) and its hash, SHA-256 of the payload. "
            "data is the entry's JSON object (null: no data), encoded as canonical JSON."
        ),
        "key": {
            "source": "RFC 8032, section 7.1, TEST 1 (a published test key)",
            "secret_key": RFC8032_TEST1_SECRET_KEY.hex(),
            "public_key": RFC8032_TEST1_PUBLIC_KEY.hex(),
            "verifier_key": (LEDGER / VERIFIER_KEY_FILE).read_text(encoding="utf-8").strip(),
        },
        "vectors": payload_vectors(LEDGER),
    }
    PAYLOADS.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
