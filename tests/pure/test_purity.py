"""The money rules run without Home Assistant: the pure modules import nothing of it."""

import ast
from pathlib import Path
import sys

PACKAGE = Path(__file__).resolve().parents[2] / "custom_components" / "energy_tokens"
PURE = {
    "books",
    "const",
    "consumption",
    "economy",
    "events",
    "metering",
    "periods",
    "policies",
    "restore",
    "settings",
    "view",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Each import of a module: (level, name); level 0 is absolute, 1 is ``from .x``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_pure_modules_import_only_the_standard_library_each_other_and_the_ledger() -> None:
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for name in sorted(PURE):
        for level, module in _imports(PACKAGE / f"{name}.py"):
            top = module.split(".")[0]
            if level == 0:
                assert top in allowed, f"{name}.py imports {module}"
            else:
                assert level == 1, f"{name}.py imports from a parent package"
                assert top in PURE or top == "ledger", f"{name}.py imports .{module}"


def test_the_check_would_see_a_home_assistant_import(tmp_path: Path) -> None:
    module = tmp_path / "glue.py"
    module.write_text("from homeassistant.core import HomeAssistant\nfrom . import runtime\n")
    assert _imports(module) == [(0, "homeassistant.core"), (1, "")]
