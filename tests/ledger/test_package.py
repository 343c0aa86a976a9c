"""The ledger as a distribution of its own: energy-tokens-ledger, built from this repository.

The development environment holds it installed (scripts/lib/env.sh reinstalls it when its sources
change); the crash test's child and the benchmark import it by name, as an auditor's Python does.
"""

import configparser
from email.parser import Parser
import importlib.metadata
import json
from pathlib import Path
import shutil
import subprocess
import sys
import zipfile

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

import custom_components.energy_tokens.ledger as ledger_package
from custom_components.energy_tokens.ledger import Kind, Ledger

from . import test_crash, test_tamper

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "custom_components" / "energy_tokens" / "ledger"
DISTRIBUTION = "energy-tokens-ledger"
PUBLIC_API = {
    "Cause",
    "CauseKind",
    "CorruptLedgerError",
    "Entry",
    "Kind",
    "Ledger",
    "LedgerError",
    "LedgerFatalError",
    "VerifyResult",
    "iter_entries",
    "load_or_create_signing_key",
    "verifier_key",
    "verify_ledger",
}


def package_files(directory: Path) -> dict[str, bytes]:
    """What a build takes from a package folder: its modules and the typing marker."""
    return {
        path.name: path.read_bytes()
        for path in directory.iterdir()
        if path.is_file() and (path.suffix == ".py" or path.name == "py.typed")
    }


def test_installed_package_is_these_sources() -> None:
    """A stale install would let the crash test and the benchmark run other code than this."""
    installed = Path(str(importlib.metadata.distribution(DISTRIBUTION).locate_file("")))
    assert package_files(installed / "energy_tokens_ledger") == package_files(SOURCES)
    assert (SOURCES / "py.typed").exists()


def test_wheel_from_the_repository_holds_the_ledger_only(tmp_path: Path) -> None:
    """`pip wheel <repository>` packs the ledger's modules, its command and nothing else."""
    repository = tmp_path / "repository"
    shutil.copytree(
        ROOT,
        repository,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "build", "__pycache__", "*.egg-info", ".*cache"
        ),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
            *("--no-index", "-w", str(wheels), str(repository)),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("energy_tokens_ledger-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        modules = {name for name in names if not name.startswith(f"{info}/")}
        assert modules == {f"energy_tokens_ledger/{name}" for name in package_files(SOURCES)}
        for name, data in package_files(SOURCES).items():
            assert archive.read(f"energy_tokens_ledger/{name}") == data
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(f"{info}/entry_points.txt").decode())
        top_level = archive.read(f"{info}/top_level.txt").decode().split()
    assert metadata["Name"] == DISTRIBUTION
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata.get_all("Requires-Dist") == ["cryptography>=38"]
    assert dict(entry_points["console_scripts"]) == {
        "energy-tokens-ledger": "energy_tokens_ledger.cli:main"
    }
    assert top_level == ["energy_tokens_ledger"]


def test_public_api_is_small_and_resolves() -> None:
    assert set(ledger_package.__all__) == PUBLIC_API
    for name in PUBLIC_API:
        assert getattr(ledger_package, name) is not None
    from custom_components.energy_tokens.ledger import store

    assert ledger_package.Ledger is store.Ledger
    for moved in ("SYSTEM", "ChainState", "list_segments", "TornTail"):  # in their submodules
        with pytest.raises(AttributeError, match=moved):
            getattr(ledger_package, moved)


def test_verifying_never_imports_the_writer(tmp_path: Path) -> None:
    """The verifier and the auditor's command load no writing code (store.py), even at run time."""
    directory = tmp_path / "ledger"
    ledger = Ledger.create(directory, Ed25519PrivateKey.generate(), "h")
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=5)
    ledger.close()
    probe = f"""
import io, json, sys
import energy_tokens_ledger
import energy_tokens_ledger.verify
from energy_tokens_ledger import cli
for command in ("verify", "balances", "export"):
    assert cli.main([command, {str(directory)!r}], out=io.StringIO()) == 0
print(json.dumps(sorted(name for name in sys.modules if name.startswith("energy_tokens_ledger"))))
from energy_tokens_ledger import Ledger  # the writer still loads when asked for
print(json.dumps(Ledger.__module__))
"""
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True
    )
    loaded, writer = (json.loads(line) for line in done.stdout.splitlines())
    assert "energy_tokens_ledger.verify" in loaded
    assert "energy_tokens_ledger.cli" in loaded
    assert "energy_tokens_ledger.store" not in loaded
    assert writer == "energy_tokens_ledger.store"


@pytest.mark.parametrize(
    "path", ["scripts/ledger", "bench/ledger.py", "tests/ledger/crash_child.py"]
)
def test_nothing_imports_the_ledger_by_path(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    for trick in ("spec_from_file_location", "run_path", "sys.path", "load_ledger_package"):
        assert trick not in text, f"{path} uses {trick}"


def test_slow_suites_are_marked(pytestconfig: pytest.Config) -> None:
    """`pytest -m "not slow"` leaves out the crash and tamper suites."""
    assert any(line.startswith("slow:") for line in pytestconfig.getini("markers"))
    for module in (test_crash, test_tamper):
        assert module.pytestmark.name == "slow", module.__name__
