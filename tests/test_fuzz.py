"""Fuzz: malformed calls to every action, intent and LLM tool never crash and write nothing.

Each call draws its fields from values that broke earlier versions (NaN, infinities, 1e308,
9.22e15, booleans, a lone surrogate, notes of 64 KiB, wrong types) and from valid ones. Every
call either succeeds (and the books stay zero-sum) or is refused with a schema error or a
translated error, leaving the ledger exactly as it was; voice and LLM tools answer in words.
"""

import json
from pathlib import Path
import random
from typing import Any

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import intent, llm
from homeassistant.setup import async_setup_component
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.intent import INTENT_BALANCE, INTENT_STATUS, INTENT_TRANSFER
from custom_components.energy_tokens.ledger import verify_ledger

from .conftest import device_subentry
from .helpers import device_id

EXCEPTIONS = json.loads(
    (Path(__file__).parents[1] / "custom_components/energy_tokens/translations/en.json").read_text(
        encoding="utf-8"
    )
)["exceptions"]
CALLS = 500
WEIRD_NUMBERS: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -1e308,
    9.22e15,
    2**63,
    2**64,
    -0.0,
    0,
    0.0001,
    1.2345,
    5e-324,
    1_000_000,
    1_000_000.001,
    True,
    False,
    None,
    "",
    "abc",
    "NaN",
    "1e400",
    [],
    {},
    [1],
    {"a": 1},
    "\ud800",
]
SERVICES = [
    "transfer",
    "set_allowance",
    "top_up",
    "sell_surplus",
    "get_ledger",
    "close_period",
    "verify_ledger",
    "get_balances",
]
GOOD_NUMBERS: list[Any] = [0.001, 0.5, 1, 2.5, "3", 12]
NOTES: list[Any] = ["", "Cold night ❄", "x" * 1001, "x" * 70_000, "\ud800", "\x00", 5, None, ["a"]]


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [
        device_subentry("Dryer", "sensor.dryer_energy", 30.0),
        device_subentry("Heater", "sensor.heater_energy", 50.0),
    ]


def _amount(rng: random.Random) -> Any:
    return rng.choice(WEIRD_NUMBERS if rng.random() < 0.7 else GOOD_NUMBERS)


def _call(
    rng: random.Random, devices: list[Any], households: list[Any]
) -> tuple[str, dict[str, Any]]:
    """One action with fields drawn from good and malformed values (some left out)."""
    service = rng.choice(SERVICES)
    fields: dict[str, Any] = {
        "transfer": {
            "from_device": rng.choice(devices),
            "to_device": rng.choice(devices),
            "amount": _amount(rng),
            "note": rng.choice(NOTES),
        },
        "set_allowance": {
            "device": rng.choice(devices),
            "amount": _amount(rng),
            "when": rng.choice(["now", "next_period", "later", 3]),
        },
        "top_up": {"household": rng.choice(households), "amount": _amount(rng)}
        | ({"device": rng.choice(devices)} if rng.random() < 0.3 else {}),
        "sell_surplus": {rng.choice(["device", "household"]): rng.choice(devices + households)}
        | ({"amount": _amount(rng)} if rng.random() < 0.8 else {}),
        "get_ledger": {
            "household": rng.choice(households),
            "since": rng.choice([1, 0, -1, 2**63, 1e308, float("nan"), "x", True]),
            "limit": rng.choice([1, 0, 1001, float("inf"), "x", None]),
        },
        "close_period": {"household": rng.choice(households)},
        "verify_ledger": {"household": rng.choice(households)},
        "get_balances": {"household": rng.choice(households)},
    }[service]
    if fields and rng.random() < 0.1:  # a field left out
        fields.pop(rng.choice(list(fields)))
    return service, fields


def _fingerprint(entry: MockConfigEntry) -> tuple[int, dict[str, int]]:
    ledger = entry.runtime_data.economy.ledger
    return ledger.seq, dict(ledger.balances())


def _translated(err: HomeAssistantError) -> bool:
    return err.translation_domain == DOMAIN and err.translation_key in EXCEPTIONS


async def test_malformed_actions_are_refused_in_words_and_write_nothing(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    devices: list[Any] = [device_id(hass, loaded_entry, name) for name in ("Dryer", "Heater")]
    devices += ["not-a-device", "", None, 5]
    households: list[Any] = [loaded_entry.entry_id, "not-a-household", "", None]
    rng = random.Random(20261202)
    accepted = refused = 0
    for _ in range(CALLS):
        service, fields = _call(rng, devices, households)
        before = _fingerprint(loaded_entry)
        response = service in ("get_ledger", "verify_ledger", "get_balances")
        try:
            await hass.services.async_call(
                DOMAIN, service, fields, blocking=True, return_response=response, context=Context()
            )
        except (probatio.Invalid, HomeAssistantError) as err:
            refusal: Exception | None = err
        else:
            refusal = None
        if refusal is None:
            assert sum(loaded_entry.runtime_data.economy.ledger.balances().values()) == 0
            accepted += 1
            continue
        if (
            isinstance(refusal, HomeAssistantError)
            and refusal.translation_domain != "homeassistant"
        ):
            assert _translated(refusal), f"{service} {fields!r}: untranslated {refusal!r}"
        assert _fingerprint(loaded_entry) == before, f"{service} {fields!r} wrote"
        refused += 1
    assert accepted > 20  # the draw exercised both
    assert refused > 250
    runtime = loaded_entry.runtime_data
    await runtime.async_commit()
    assert verify_ledger(runtime.economy.ledger.directory).valid


async def test_malformed_voice_and_llm_requests_are_answered_in_words(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "intent", {})
    assert await async_setup_component(hass, "llm", {})
    api = await llm.async_get_api(
        hass,
        llm.LLM_API_ASSIST,
        llm.LLMContext(
            platform="test",
            context=Context(),
            language="en",
            assistant="conversation",
            device_id=None,
        ),
    )
    names: list[Any] = ["dryer", "Heater", "toaster", "", 5, None, "\ud800", "x" * 10_000]
    rng = random.Random(7)
    for _ in range(CALLS // 2):
        kind = rng.choice([INTENT_TRANSFER, INTENT_TRANSFER, INTENT_BALANCE, INTENT_STATUS])
        args: dict[str, Any] = {}
        if kind == INTENT_TRANSFER:
            args = {
                "from_device": rng.choice(names),
                "to_device": rng.choice(names),
                "amount": _amount(rng),
            }
        elif kind == INTENT_BALANCE:
            args = {"device": rng.choice(names)}
        before = _fingerprint(loaded_entry)
        try:
            if rng.random() < 0.5:  # as a voice assistant's intent
                slots = {key: {"value": value} for key, value in args.items()}
                response = await intent.async_handle(hass, "test", kind, slots, language="en")
                answer = response.speech["plain"]["speech"]
            else:  # as an LLM's tool call
                result = await api.async_call_tool(
                    llm.ToolInput(tool_name=f"{DOMAIN}__{kind}", tool_args=args)
                )
                answer = str(result)
        except intent.IntentUnexpectedError as err:
            pytest.fail(f"{kind} {args!r}: {err!r}")
        except probatio.Invalid, intent.IntentError:
            assert _fingerprint(loaded_entry) == before  # refused by the slot schema
            continue
        assert answer
        if not answer.startswith("Moved") and "Moved" not in answer:
            assert _fingerprint(loaded_entry) == before, f"{kind} {args!r} wrote: {answer}"
