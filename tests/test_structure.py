"""The integration's shape: no import cycles, no long modules, its manifest and license."""

import ast
from graphlib import CycleError, TopologicalSorter
import json
from pathlib import Path

from homeassistant.const import Platform
import pytest
import yaml

PACKAGE = Path(__file__).resolve().parents[1] / "custom_components" / "energy_tokens"
MAX_LINES = 400  # outside the ledger package, which is a package of its own


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Source files only: no Home Assistant instance needed."""


def _module(package: Path, path: Path) -> str:
    parts = path.relative_to(package).with_suffix("").parts
    return ".".join(parts).removesuffix("__init__").strip(".")


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports (any level)."""
    modules = {_module(package, path): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
            target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            candidates = [target] + [f"{target}.{alias.name}".strip(".") for alias in node.names]
            # A package is always imported before its modules: ``from . import x`` adds only x.
            imported |= {c for c in candidates if c in modules and c not in (name, "")}
        graph[name] = imported
    return graph


def test_the_integration_has_no_import_cycles() -> None:
    TopologicalSorter(import_graph(PACKAGE)).prepare()  # raises CycleError on a cycle


def test_a_cycle_would_be_found(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "loads.py").write_text("from .household import Household\n")
    (tmp_path / "household.py").write_text("from . import loads\n")
    graph = import_graph(tmp_path)
    assert graph["household"] == {"loads"}
    with pytest.raises(CycleError):
        TopologicalSorter(graph).prepare()


def test_no_module_outside_the_ledger_is_longer_than_about_400_lines() -> None:
    long = {
        path.name: lines
        for path in PACKAGE.glob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


# Integrations a custom integration may use without declaring them, as Home Assistant's own
# manifest checks allow: the entity platforms, and the core's always-loaded parts.
UNDECLARED_OK = {
    *(platform.value for platform in Platform),
    "homeassistant",
    "websocket_api",
    "device_automation",
    "persistent_notification",
}


def test_the_manifest_declares_every_integration_the_code_imports() -> None:
    """A platform file may import its own integration (repairs.py: repairs); others declare."""
    manifest = json.loads((PACKAGE / "manifest.json").read_text(encoding="utf-8"))
    declared = {*manifest.get("dependencies", ()), *manifest.get("after_dependencies", ())}
    undeclared = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == "homeassistant.components":
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                parts = name.split(".")
                if parts[:2] != ["homeassistant", "components"] or len(parts) < 3:
                    continue
                if parts[2] not in declared | UNDECLARED_OK and parts[2] != path.stem:
                    undeclared.add((path.name, parts[2]))
    assert undeclared == set()


def test_the_repository_has_the_license_its_package_declares() -> None:
    """HACS refuses a repository without a license; the package metadata names the same one."""
    root = PACKAGE.parents[1]
    assert (root / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")
    assert 'license = "MIT"' in (root / "pyproject.toml").read_text(encoding="utf-8")


# Home Assistant's Integration Quality Scale, every tier, as of the version this targets.
QUALITY_RULES = [
    "action-setup",
    "appropriate-polling",
    "brands",
    "common-modules",
    "config-flow-test-coverage",
    "config-flow",
    "dependency-transparency",
    "docs-actions",
    "docs-high-level-description",
    "docs-installation-instructions",
    "docs-removal-instructions",
    "entity-event-setup",
    "entity-unique-id",
    "has-entity-name",
    "runtime-data",
    "test-before-configure",
    "test-before-setup",
    "unique-config-entry",
    "action-exceptions",
    "config-entry-unloading",
    "docs-configuration-parameters",
    "docs-installation-parameters",
    "entity-unavailable",
    "integration-owner",
    "log-when-unavailable",
    "parallel-updates",
    "reauthentication-flow",
    "test-coverage",
    "devices",
    "diagnostics",
    "discovery",
    "discovery-update-info",
    "docs-conditions",
    "docs-data-update",
    "docs-examples",
    "docs-known-limitations",
    "docs-supported-devices",
    "docs-supported-functions",
    "docs-triggers",
    "docs-troubleshooting",
    "docs-use-cases",
    "dynamic-devices",
    "entity-category",
    "entity-device-class",
    "entity-disabled-by-default",
    "entity-translations",
    "exception-translations",
    "icon-translations",
    "reconfiguration-flow",
    "repair-issues",
    "stale-devices",
    "async-dependency",
    "inject-websession",
    "strict-typing",
]


def test_the_quality_scale_answers_every_rule() -> None:
    """Every rule is done, or exempt with the reason; nothing left open or unknown."""
    rules = yaml.safe_load((PACKAGE / "quality_scale.yaml").read_text(encoding="utf-8"))["rules"]
    assert sorted(rules) == sorted(QUALITY_RULES)
    for rule, answer in rules.items():
        status = answer if isinstance(answer, str) else answer["status"]
        assert status in ("done", "exempt"), rule
        if status == "exempt":
            assert answer["comment"], rule
