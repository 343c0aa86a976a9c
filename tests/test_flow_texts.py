"""Every dialog of the flows has a title and a translated text.

Read from the flows' source, so that a step, an abort reason or an error added without its text
fails here, before a user sees a bare key or an untitled dialog.
"""

import ast
import json
from pathlib import Path
from typing import Any

import pytest

COMPONENT = Path(__file__).parents[1] / "custom_components" / "energy_tokens"
TEXTS = json.loads((COMPONENT / "translations" / "en.json").read_text(encoding="utf-8"))

# Each flow class and where its texts live in the translations.
FLOWS: dict[str, tuple[str, list[str]]] = {
    "EnergyTokensConfigFlow": ("config_flow.py", ["config"]),
    "DeviceSubentryFlow": ("config_flow.py", ["config_subentries", "device"]),
    "MeterSpikeRepairFlow": ("repairs.py", ["issues", "meter_spike", "fix_flow"]),
}
# Results Home Assistant's helpers return for a flow: their abort reasons.
IMPLIED_ABORTS = {
    "async_update_and_abort": "reconfigure_successful",
    "_async_abort_entries_match": "already_configured",
}


def _flow_class(file: str, name: str) -> ast.ClassDef:
    tree = ast.parse((COMPONENT / file).read_text(encoding="utf-8"))
    return next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name)


def _strings(node: ast.AST | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List):
        return [s for item in node.elts for s in _strings(item)]
    return []


def _what_it_shows(flow: ast.ClassDef) -> dict[str, Any]:
    """The steps (with their menu options), abort reasons and errors a flow class can show."""
    steps: dict[str, list[str]] = {}
    aborts: set[str] = set()
    errors: set[str] = set()
    for node in ast.walk(flow):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            keywords = {k.arg: k.value for k in node.keywords}
            for step in _strings(keywords.get("step_id")):
                steps.setdefault(step, []).extend(_strings(keywords.get("menu_options")))
            if method == "_async_device_form":  # its step id is its first argument
                steps.update({step: [] for step in _strings(node.args[0])})
            if method == "async_abort":
                aborts.update(_strings(keywords.get("reason")))
            if method in IMPLIED_ABORTS:
                aborts.add(IMPLIED_ABORTS[method])
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            target = node.targets[0].value
            if isinstance(target, ast.Name) and target.id == "errors":
                errors.update(_strings(node.value))
    return {"steps": steps, "aborts": aborts, "errors": errors}


@pytest.mark.parametrize("flow_name", FLOWS)
def test_every_step_abort_and_error_has_its_text(flow_name: str) -> None:
    file, path = FLOWS[flow_name]
    texts: dict[str, Any] = TEXTS
    for key in path:
        texts = texts[key]
    shown = _what_it_shows(_flow_class(file, flow_name))
    assert shown["steps"], f"{flow_name} shows no step: the source reading is broken"
    for step, options in shown["steps"].items():
        step_texts = texts["step"][step]
        assert step_texts.get("title"), f"{flow_name} step {step} has no title"
        assert step_texts.get("description"), f"{flow_name} step {step} has no description"
        for option in options:
            assert step_texts["menu_options"].get(option), f"{step}: menu option {option}"
    for reason in shown["aborts"]:
        assert texts.get("abort", {}).get(reason), f"{flow_name} abort {reason} has no text"
    for error in shown["errors"]:
        assert texts.get("error", {}).get(error), f"{flow_name} error {error} has no text"


def test_the_subentry_flow_aborts_only_after_saving() -> None:
    """Home Assistant shows a subentry flow's abort dialog without a title; the device flow
    aborts only when a change is saved, and says everything else in titled steps."""
    shown = _what_it_shows(_flow_class("config_flow.py", "DeviceSubentryFlow"))
    assert shown["aborts"] == {"reconfigure_successful"}
    assert "nothing_to_add" in shown["steps"]
    # Home Assistant aborts by itself when two flows add the same sensor at once.
    assert TEXTS["config_subentries"]["device"]["abort"]["already_configured"]


def test_every_integration_title_is_there() -> None:
    """The config flow's abort dialogs take the integration's name as their title."""
    manifest = json.loads((COMPONENT / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "Energy Tokens"
    assert TEXTS.get("title", manifest["name"]) == "Energy Tokens"
