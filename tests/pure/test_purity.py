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
    "history",
    "exchange",
    "inputs",
    "metered",
    "metering",
    "power",
    "periods",
    "policies",
    "ranking",
    "results",
    "restore",
    "settings",
    "trade_book",
    "trading",
    "view",
    "witness_status",
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


RUN_WITHOUT_HOME_ASSISTANT = """
import importlib, importlib.abc, sys, tempfile, types
from pathlib import Path
from zoneinfo import ZoneInfo

class NoHomeAssistant(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "homeassistant":
            raise ImportError(f"{name} imported")
        return None

sys.meta_path.insert(0, NoHomeAssistant())
package = Path(sys.argv[1])
# The integration's own __init__ is Home Assistant glue: stand the packages up without it.
packages = (("custom_components", package.parent), ("custom_components.energy_tokens", package))
for name, path in packages:
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    sys.modules[name] = module
for pure in sys.argv[2:]:
    importlib.import_module(f"custom_components.energy_tokens.{pure}")
from custom_components.energy_tokens.const import DEFAULTS
from custom_components.energy_tokens.ledger import Cause, CauseKind
from custom_components.energy_tokens.restore import open_economy
from custom_components.energy_tokens.settings import DeviceSettings, HouseholdSettings

def device(key, allowance):
    data = {"name": key, "meter": f"sensor.{key}", "allowance": allowance,
            "priority": "normal", "may_lend": True, "cut_policy": "never"}
    return DeviceSettings.from_data(key, data)

with tempfile.TemporaryDirectory() as folder:
    economy = open_economy(Path(folder), HouseholdSettings.from_data(DEFAULTS),
        [device("dryer", 30.0), device("heater", 50.0)], household_id="h", name="Home",
        clock=lambda: 1_795_435_200_000, zone=ZoneInfo("UTC"))
    economy.settle()
    books = economy.devices
    economy.transfer(books["dryer"], books["heater"], 3_000, Cause(CauseKind.USER, "u"), "")
    assert economy.ledger.balance("device:heater") == 53_000
    assert not [m for m in sys.modules if m.split(".")[0] == "homeassistant"]
print("ran without Home Assistant")
"""


def test_the_economy_runs_in_a_process_that_cannot_import_home_assistant() -> None:
    """Transitively: the pure modules, and the ledger they use, import nothing of it."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_HOME_ASSISTANT, str(PACKAGE), *sorted(PURE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran without Home Assistant"
