"""Checkpoints kept elsewhere, and a checkpoints file that was deleted or cut.

A rewritten history signed anew with the household's own key verifies on its own: only a
checkpoint copied elsewhere before the rewrite catches it, and the report names the first entry
after the last checkpoint it still matches.
"""

import io
import json
from pathlib import Path
import shutil

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custom_components.energy_tokens.ledger import Kind, Ledger, verify_ledger
from custom_components.energy_tokens.ledger.cli import main
from custom_components.energy_tokens.ledger.layout import CHECKPOINTS_FILE

from .conftest import FakeClock, fill_small_ledger


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(args), out=out), out.getvalue()


def _history(folder: Path, key: Ed25519PrivateKey, amount: int) -> Ledger:
    """Two periods, then a third with one sale of ``amount`` and a close (checkpointed)."""
    ledger = Ledger.create(folder, key, "household-1", clock=FakeClock(), checkpoint_every=5)
    fill_small_ledger(ledger)
    ledger.append(Kind.PERIOD_OPEN, data={"period": "2027-01"})
    ledger.append(Kind.SALE, from_account="device:heater", to_account="market", amount=amount)
    ledger.append(Kind.PERIOD_CLOSE)
    ledger.commit()
    ledger.close()
    return ledger


def test_a_rewritten_history_is_caught_by_a_checkpoint_kept_elsewhere(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    # Copies kept elsewhere: after two periods, and after the third.
    early = Ledger.create(tmp_path / "early", key, "household-1", clock=FakeClock())
    fill_small_ledger(early)
    early.close()
    honest = _history(tmp_path / "honest", key, 1_000)
    kept = []
    for name in ("early", "honest"):
        code, note = run("checkpoint", str(tmp_path / name))
        assert code == 0
        kept.append(tmp_path / f"{name}.checkpoint")
        kept[-1].write_text(note, encoding="utf-8")
    assert note.startswith(f"energy-tokens/household-1\n{honest.seq}\n")
    assert run("verify", str(tmp_path / "honest"), "--checkpoint", *map(str, kept))[0] == 0

    # The owner rewrites the third period (a smaller sale) and signs it all anew with the key.
    _history(tmp_path / "forged", key, 10)
    assert verify_ledger(tmp_path / "forged").valid  # on its own, nothing shows
    code, out = run("verify", str(tmp_path / "forged"), "--checkpoint", *map(str, kept), "--json")
    assert code == 1
    result = json.loads(out)
    assert result["first_bad_seq"] == early.seq + 1  # the first entry after the last good one
    assert f"after entry {early.seq}" in result["reason"]


def test_a_ledger_cut_short_of_a_kept_checkpoint(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    _history(tmp_path / "full", key, 1_000)
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(run("checkpoint", str(tmp_path / "full"))[1], encoding="utf-8")
    short = Ledger.create(tmp_path / "short", key, "household-1", clock=FakeClock())
    fill_small_ledger(short)
    short.close()
    code, out = run("verify", str(tmp_path / "short"), "--checkpoint", str(kept))
    assert code == 1
    assert "a checkpoint kept elsewhere covers" in out


def test_a_checkpoint_of_another_key_is_refused(tmp_path: Path) -> None:
    _history(tmp_path / "mine", Ed25519PrivateKey.generate(), 1_000)
    _history(tmp_path / "theirs", Ed25519PrivateKey.generate(), 1_000)
    kept = tmp_path / "theirs.checkpoint"
    kept.write_text(run("checkpoint", str(tmp_path / "theirs"))[1], encoding="utf-8")
    code, out = run("verify", str(tmp_path / "mine"), "--checkpoint", str(kept))
    assert code == 1
    assert "does not match this ledger" in out


def test_a_deleted_or_cut_checkpoints_file_is_reported(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    _history(tmp_path / "ledger", key, 1_000)
    for damage in ("deleted", "cut"):
        folder = tmp_path / damage
        shutil.copytree(tmp_path / "ledger", folder)
        checkpoints = folder / CHECKPOINTS_FILE
        if damage == "deleted":
            checkpoints.unlink()
        else:
            checkpoints.write_bytes(checkpoints.read_bytes()[:8])  # its header only
        code, out = run("verify", str(folder))
        assert code == 1, damage
        assert out.startswith("TAMPERED"), out
        assert ("missing" in out) if damage == "deleted" else ("checkpoints are missing" in out)


def test_an_honest_ledger_cut_by_a_crash_before_its_last_checkpoint_verifies(
    tmp_path: Path,
) -> None:
    """Only the last close may lack its checkpoint: a crash can come between the two writes."""
    key = Ed25519PrivateKey.generate()
    ledger = Ledger.create(tmp_path / "ledger", key, "household-1", clock=FakeClock())
    fill_small_ledger(ledger, periods=1)
    ledger.append(Kind.PERIOD_OPEN, data={"period": "2027-01"})
    ledger.append(Kind.PERIOD_CLOSE)
    ledger._checkpoint_requested = False  # as if killed between the entries and the checkpoint
    ledger._write_checkpoint = lambda *args: None  # type: ignore[method-assign]
    ledger.commit()
    assert verify_ledger(tmp_path / "ledger").valid


def _sizes(folder: Path) -> list[int]:
    from custom_components.energy_tokens.ledger.reader import read_checkpoints, read_genesis

    checkpoints, _, _ = read_checkpoints(folder, read_genesis(folder).public_key)
    return [checkpoint.size for checkpoint in checkpoints]


def test_no_checkpoint_to_keep_yet_and_json_of_a_tampered_ledger(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path / "new", Ed25519PrivateKey.generate(), "household-1")
    ledger.commit()  # the genesis only: nothing signed yet
    code, out = run("checkpoint", str(tmp_path / "new"))
    assert (code, out) == (1, "")
    ledger.close()
    (tmp_path / "new" / CHECKPOINTS_FILE).unlink()
    code, out = run("balances", str(tmp_path / "new"), "--json")
    assert code == 1
    assert json.loads(out)["valid"] is False
