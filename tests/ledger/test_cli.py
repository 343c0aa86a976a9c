"""The auditor CLI, in process and as the installed energy-tokens-ledger command."""

import ast
import csv
import io
import json
from pathlib import Path
import shutil
import subprocess
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import Ledger
from custom_components.energy_tokens.ledger.cli import main, tokens
from custom_components.energy_tokens.ledger.keys import (
    parse_public_key,
    public_key_bytes,
    verifier_key,
)
from custom_components.energy_tokens.ledger.layout import VERIFIER_KEY_FILE, list_segments

from .conftest import fill_small_ledger

ROOT = Path(__file__).resolve().parents[2]
LEDGER_PACKAGE = ROOT / "custom_components" / "energy_tokens" / "ledger"


@pytest.fixture
def audited(make_ledger: object, ledger_dir: Path) -> Ledger:
    ledger: Ledger = make_ledger(checkpoint_every=5)  # type: ignore[operator]
    fill_small_ledger(ledger)
    ledger.close()
    return ledger


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def test_verify_ok_and_json(audited: Ledger, ledger_dir: Path) -> None:
    code, out = run("verify", str(ledger_dir))
    assert code == 0
    assert out == f"OK {audited.seq} entries, head {audited.head.hex()}\n"
    code, out = run(
        "verify", str(ledger_dir), "--json", "--pubkey", str(ledger_dir / VERIFIER_KEY_FILE)
    )
    assert code == 0
    result = json.loads(out)
    assert result == {
        "valid": True,
        "entries": audited.seq,
        "head": audited.head.hex(),
        "first_bad_seq": None,
        "reason": None,
        "checkpoints_verified": result["checkpoints_verified"],
    }
    assert result["checkpoints_verified"] >= 4


def test_verify_tampered(audited: Ledger, ledger_dir: Path) -> None:
    segment = list_segments(ledger_dir)[1]
    data = bytearray(segment.read_bytes())
    data[40] ^= 1
    segment.write_bytes(bytes(data))
    code, out = run("verify", str(ledger_dir))
    assert code == 1
    assert out.startswith("TAMPERED at entry ")
    code, out = run("verify", str(ledger_dir), "--json")
    assert code == 1
    assert json.loads(out)["valid"] is False
    code, out = run("balances", str(ledger_dir))
    assert code == 1
    assert out.startswith("TAMPERED")


def test_pinned_key_formats(
    audited: Ledger, ledger_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "key.pem").write_bytes(pem)
    import base64

    (tmp_path / "key.b64").write_text(base64.b64encode(public_key_bytes(key.public_key())).decode())
    other = Ed25519PrivateKey.generate().public_key()
    (tmp_path / "other.b64").write_text(base64.b64encode(public_key_bytes(other)).decode())
    assert run("verify", str(ledger_dir), "--pubkey", str(tmp_path / "key.pem"))[0] == 0
    assert run("verify", str(ledger_dir), "--pubkey", str(tmp_path / "key.b64"))[0] == 0
    code, out = run("verify", str(ledger_dir), "--pubkey", str(tmp_path / "other.b64"))
    assert (code, out) == (
        1,
        "TAMPERED at entry 1: the genesis entry binds a different public key than pinned\n",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name+00000000+" + "A" * 44, "Ed25519"),
        (
            "energy-tokens/x+deadbeef+"
            + verifier_key("energy-tokens/x", bytes(32)).split("+", 2)[2],
            "id does not match",
        ),
        ("AAAA", "32-byte"),
        ("a+0123456x+!!", "not valid base64"),
    ],
)
def test_bad_public_keys(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_public_key(text)


def test_raw_keys_with_plus_signs_are_not_taken_for_verifier_keys() -> None:
    import base64

    raw = bytes.fromhex("fbef" * 16)  # base64 full of "+" and "/"
    text = base64.b64encode(raw).decode()
    assert text.count("+") >= 2
    assert parse_public_key(text) == raw
    assert parse_public_key(verifier_key("energy-tokens/h", raw)) == raw


def test_pem_of_another_algorithm_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    pem = (
        generate_private_key(SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="Ed25519"):
        parse_public_key(pem.decode())


def test_balances(audited: Ledger, ledger_dir: Path) -> None:
    code, out = run("balances", str(ledger_dir))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"household {audited.household_id}"  # the ledger names no one yet
    assert lines[1].split() == ["account", "name", "tokens"]
    table = {line.split()[0]: line.split()[-1] for line in lines[2:]}
    assert table == {name: tokens(value) for name, value in audited.balances().items()}
    assert table["provider"] == "-1600.000"
    assert tokens(1250) == "1.250"
    code, out = run("balances", str(ledger_dir), "--json")
    assert code == 0
    document = json.loads(out)
    assert document["household"] == audited.household_id
    assert {row["account"]: row["tokens"] for row in document["accounts"]} == table


def test_export_jsonl_and_csv(audited: Ledger, ledger_dir: Path) -> None:
    code, out = run("export", str(ledger_dir))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["seq"] for row in rows] == list(range(1, audited.seq + 1))
    assert rows[-1]["hash"] == audited.head.hex()
    assert all(rows[i]["prev_hash"] == rows[i - 1]["hash"] for i in range(1, len(rows)))
    code, out = run("export", str(ledger_dir), "--format", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == audited.seq
    debit = next(row for row in table if row["kind"] == "debit")
    assert debit["from"] == "device:dryer"
    assert json.loads(debit["data"])["meter"] == "sensor.dryer_energy"


def test_bad_arguments_and_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("verify", str(tmp_path / "missing"))[0] == 2
    assert "is not a directory" in capsys.readouterr().err
    assert run("verify", str(tmp_path))[0] == 2
    assert "holds no ledger segments" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    (tmp_path / "0000000000000001.seg").write_bytes(b"x")
    (tmp_path / "key").write_text("not a key")
    assert run("verify", str(tmp_path), "--pubkey", str(tmp_path / "key"))[0] == 2
    assert "cannot read" in capsys.readouterr().err
    assert run("verify", str(tmp_path), "--pubkey", str(tmp_path / "absent"))[0] == 2


def installed_command() -> Path:
    """The console script pip installed beside this interpreter (see scripts/lib/env.sh)."""
    found = shutil.which("energy-tokens-ledger", path=str(Path(sys.executable).parent))
    assert found, "energy-tokens-ledger is not installed: run the tests through scripts/test"
    return Path(found)


def test_installed_command_runs_without_home_assistant(audited: Ledger, ledger_dir: Path) -> None:
    """The installed auditor verifies, and never imports Home Assistant or the integration."""
    done = subprocess.run(
        [str(installed_command()), "verify", str(ledger_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (
        0,
        f"OK {audited.seq} entries, head {audited.head.hex()}\n",
    )
    probe = (
        "import sys; import energy_tokens_ledger.cli as cli; "
        f"code = cli.main(['verify', {str(ledger_dir)!r}]); "
        "assert not [m for m in sys.modules "
        "if m.startswith(('homeassistant', 'custom_components'))]; "
        "sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK {audited.seq} entries")
    done = subprocess.run(
        [str(installed_command()), "verify", str(ledger_dir / "nope")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"ledger: {ledger_dir / 'nope'} is not a directory"
    assert "Traceback" not in done.stderr


def test_python_dash_m_on_the_installed_package(audited: Ledger, ledger_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-m", "energy_tokens_ledger", "balances", str(ledger_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == run("balances", str(ledger_dir))[1]


def test_package_imports_only_stdlib_and_cryptography() -> None:
    allowed = set(sys.stdlib_module_names) | {"cryptography", "__future__"}
    for path in LEDGER_PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_python_dash_m_runs_the_auditor(
    audited: Ledger,
    ledger_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import runpy

    monkeypatch.setattr(sys, "argv", ["ledger", "verify", str(ledger_dir)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("custom_components.energy_tokens.ledger", run_name="__main__")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"OK {audited.seq} entries")
