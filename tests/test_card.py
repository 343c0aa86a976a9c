"""The dashboard card: served, loaded by the frontend, fed over the WebSocket API."""

import hashlib
import json
import re
from typing import Any

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.components.lovelace.resources import ResourceStorageCollection
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.energy_tokens.card import CARD_FILE, CARD_URL
from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.ledger.entries import MOVEMENT_KINDS
from custom_components.energy_tokens.policies import MARKET, POOL, PROVIDER

from .conftest import device_subentry
from .helpers import device_id

DRYER = "sensor.dryer_energy"
HEATER = "sensor.heater_energy"
VERSIONED = f"{CARD_URL}?v={hashlib.sha256(CARD_FILE.read_bytes()).hexdigest()[:12]}"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [device_subentry("Dryer", DRYER, 30.0), device_subentry("Heater", HEATER, 50.0)]


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_card_is_served_and_loaded_by_the_frontend(
    hass: HomeAssistant, household_entry: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    assert await async_setup_component(hass, "frontend", {})
    await _setup(hass, household_entry)
    assert VERSIONED in hass.data[DATA_EXTRA_MODULE_URL].urls
    client = await hass_client()
    response = await client.get(VERSIONED)
    assert response.status == 200
    body = await response.text()
    assert "customElements.define(CARD_TYPE, EnergyTokensCard)" in body
    assert 'const CARD_TYPE = "energy-tokens-card"' in body
    # The dashboards' resources are the user's: the card is never written into them.
    resources = hass.data[LOVELACE_DATA].resources
    assert isinstance(resources, ResourceStorageCollection)
    await resources.async_get_info()
    assert resources.async_items() == []


async def test_a_card_resource_from_an_earlier_version_is_left_alone(
    hass: HomeAssistant, household_entry: MockConfigEntry
) -> None:
    """Earlier versions added the card to the resources; the card defines itself only once."""
    assert await async_setup_component(hass, "frontend", {})
    resources = hass.data[LOVELACE_DATA].resources
    assert isinstance(resources, ResourceStorageCollection)
    await resources.async_create_item({"res_type": "module", "url": f"{CARD_URL}?v=old"})
    await _setup(hass, household_entry)
    assert [item["url"] for item in resources.async_items()] == [f"{CARD_URL}?v=old"]
    assert "if (!customElements.get(CARD_TYPE))" in CARD_FILE.read_text(encoding="utf-8")


async def test_without_the_frontend_the_card_is_still_served(
    hass: HomeAssistant, household_entry: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    await _setup(hass, household_entry)
    assert DATA_EXTRA_MODULE_URL not in hass.data
    response = await (await hass_client()).get(CARD_URL)
    assert response.status == 200  # for a resource line the user adds by hand


async def test_household_view_has_balances_period_and_latest_movements(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    dryer = device_id(hass, loaded_entry, "Dryer")
    heater = device_id(hass, loaded_entry, "Heater")
    await hass.services.async_call(
        DOMAIN,
        "transfer",
        {"from_device": dryer, "to_device": heater, "amount": 2.5, "note": "cold"},
        blocking=True,
    )
    household = loaded_entry.runtime_data
    await household.async_commit()
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "energy_tokens/household"})  # the only household
    response = await client.receive_json()
    assert response["success"], response
    view = response["result"]
    assert view["entry_id"] == loaded_entry.entry_id
    assert view["household"] == "Home"
    assert view["pool"] == 220.0
    assert view["period_start"] == "2026-11-01T00:00:00-07:00"  # the test instance is in US/Pacific
    assert view["period_end"] == "2026-12-01T00:00:00-08:00"
    assert view["token_kwh"] == 1.0
    # The household's bar: what was sold and consumed, at "now".
    assert (view["sold"], view["consumed"]) == (0.0, 0.0)
    assert view["period_start"] < view["now"] < view["period_end"]
    # Each device's burn-down: its allowance from the start to the slice before this one (the
    # transfer happened in this one), then the live balance; flat with no consumption yet.
    for shown, allowance in zip(view["devices"], (30.0, 50.0), strict=True):
        chart = shown["chart"]
        assert set(chart["left"]) == {allowance}
        assert len(chart["left"]) == len(chart["borrowed"]) >= 1
        assert set(chart["borrowed"]) == {0.0}
        assert chart["projected"] == shown["balance"]
    assert {
        d["device"]: (d["device_id"], d["balance"], d["allowance"]) for d in view["devices"]
    } == {
        "Dryer": (dryer, 27.5, 30.0),
        "Heater": (heater, 52.5, 50.0),
    }
    assert view["ledger"] == {
        "entries": household.economy.ledger.seq,
        "head": household.economy.ledger.head.hex(),
    }
    transfer = view["recent"][0]
    assert transfer | {"time": None, "hash": None} == {
        "seq": household.economy.ledger.seq,
        "time": None,
        "kind": "transfer",
        "from": "Dryer",
        "to": "Heater",
        "amount": 2.5,
        "note": "cold",
        "hash": None,
    }
    assert transfer["hash"] == household.economy.ledger.head.hex()
    # Allowances of this period follow, newest first; system accounts keep their ids.
    assert [(m["kind"], m["from"]) for m in view["recent"][1:3]] == [
        ("allocate", "pool"),
        ("allocate", "pool"),
    ]
    assert len(view["recent"]) <= 8


async def test_household_view_after_a_restart_remembers_the_movements(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    dryer = device_id(hass, loaded_entry, "Dryer")
    heater = device_id(hass, loaded_entry, "Heater")
    await hass.services.async_call(
        DOMAIN, "transfer", {"from_device": dryer, "to_device": heater, "amount": 1}, blocking=True
    )
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "energy_tokens/household", "household": loaded_entry.entry_id}
    )
    view = (await client.receive_json())["result"]
    assert (view["recent"][0]["kind"], view["recent"][0]["to"]) == ("transfer", "Heater")


async def test_household_view_names_a_removed_device_as_the_ledger_recorded_it(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    """Its tokens went back to the pool: the movement names it, never by its account id."""
    dryer = next(key for key, sub in loaded_entry.subentries.items() if sub.title == "Dryer")
    assert hass.config_entries.async_remove_subentry(loaded_entry, dryer)
    await hass.async_block_till_done(wait_background_tasks=True)
    await loaded_entry.runtime_data.async_commit()  # the card lists durable movements
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "energy_tokens/household", "household": loaded_entry.entry_id}
    )
    view = (await client.receive_json())["result"]
    returned = view["recent"][0]
    assert (returned["kind"], returned["from"], returned["to"]) == ("adjust", "Dryer", "pool")
    assert returned["amount"] == 30.0


async def test_household_view_names_another_household(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    cabin = MockConfigEntry(
        domain=DOMAIN,
        title="Cabin",
        data={**loaded_entry.data, "name": "Cabin"},
        subentries_data=[device_subentry("Sauna", "sensor.sauna_energy", 10.0)],
    )
    cabin.add_to_hass(hass)
    await _setup(hass, cabin)
    await hass.services.async_call(
        DOMAIN,
        "transfer",
        {
            "from_device": device_id(hass, loaded_entry, "Dryer"),
            "to_device": device_id(hass, cabin, "Sauna"),
            "amount": 1,
        },
        blocking=True,
    )
    await loaded_entry.runtime_data.async_commit()
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "energy_tokens/household", "household": loaded_entry.entry_id}
    )
    view = (await client.receive_json())["result"]
    assert (view["recent"][0]["from"], view["recent"][0]["to"]) == ("Dryer", "Cabin")


@pytest.mark.parametrize(
    ("households", "message", "key"),
    [
        (0, {}, "service_config_entry_not_loaded"),
        (2, {}, "service_found_multiple_config_entry_for_domain"),
        (1, {"household": "nope"}, "service_config_entry_not_found"),
    ],
)
async def test_household_view_refusals_are_translated(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    households: int,
    message: dict[str, str],
    key: str,
) -> None:
    await _setup(hass, household_entry)
    if households == 0:
        assert await hass.config_entries.async_unload(household_entry.entry_id)
    if households == 2:
        other = MockConfigEntry(domain=DOMAIN, title="Cabin", data={**household_entry.data})
        other.add_to_hass(hass)
        await _setup(hass, other)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "energy_tokens/household", **message})
    response = await client.receive_json()
    assert not response["success"]
    error = response["error"]
    assert (error["translation_domain"], error["translation_key"]) == ("homeassistant", key)
    assert "{" not in error["message"]  # rendered from the translation, placeholders filled


async def test_the_card_is_pushed_the_household_view_when_it_changes(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    """One subscription: the view now, then again after every change; no polling."""
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "energy_tokens/subscribe_household", "household": loaded_entry.entry_id}
    )
    subscribed = await client.receive_json()
    assert subscribed["success"], subscribed
    first = await client.receive_json()
    assert first["type"] == "event"
    assert {d["device"]: d["balance"] for d in first["event"]["devices"]} == {
        "Dryer": 30.0,
        "Heater": 50.0,
    }
    dryer = device_id(hass, loaded_entry, "Dryer")
    heater = device_id(hass, loaded_entry, "Heater")
    await hass.services.async_call(
        DOMAIN,
        "transfer",
        {"from_device": dryer, "to_device": heater, "amount": 1.25},
        blocking=True,
    )
    await hass.async_block_till_done()
    pushed = (await client.receive_json())["event"]  # the balances at once
    assert {d["device"]: d["balance"] for d in pushed["devices"]} == {
        "Dryer": 28.75,
        "Heater": 51.25,
    }
    for _ in range(3):  # and the movement once it is durable (the commit that came before)
        if pushed["recent"][0]["kind"] == "transfer":
            break
        pushed = (await client.receive_json())["event"]
    assert (pushed["recent"][0]["kind"], pushed["recent"][0]["amount"]) == ("transfer", 1.25)
    await client.send_json_auto_id({"type": "unsubscribe_events", "subscription": subscribed["id"]})
    answer = await client.receive_json()
    while answer["type"] == "event":  # any push still on its way before the unsubscription
        answer = await client.receive_json()
    assert answer["success"]
    await hass.services.async_call(
        DOMAIN, "transfer", {"from_device": dryer, "to_device": heater, "amount": 1}, blocking=True
    )
    await hass.async_block_till_done()
    await client.send_json_auto_id({"type": "ping"})
    assert (await client.receive_json())["type"] == "pong"  # nothing pushed after unsubscribing


TRANSLATIONS = CARD_FILE.parent.parent / "translations"


def _flat(texts: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in texts.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _card_texts(language: str) -> dict[str, str]:
    texts = json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))
    return _flat(texts["card"])


def test_every_text_the_card_asks_for_is_translated() -> None:
    english = _card_texts("en")
    source = CARD_FILE.read_text(encoding="utf-8")
    asked = set(re.findall(r'_t\(\s*"([a-z_.]+)"', source))
    # Plural texts: a key per form; English and German need "one" and "other" (CLDR).
    plurals = set(re.findall(r'_plural\(\s*"([a-z_]+)"', source))
    assert plurals == {"tokens", "ledger_summary"}
    asked |= {f"{key}_{form}" for key in plurals for form in ("one", "other")}
    assert len(asked) > 30
    assert asked <= set(english), asked - set(english)
    # Keys the card builds: every movement kind and system account it may show, and the editor.
    assert {f"kind.{kind.name.lower()}" for kind in MOVEMENT_KINDS} <= set(english)
    accounts = re.search(r"const SYSTEM_ACCOUNTS = \[([^\]]*)\]", source)
    assert accounts is not None
    assert {f"account.{name}" for name in re.findall(r'"(\w+)"', accounts[1])} <= set(english)
    assert {POOL, PROVIDER, MARKET} <= set(re.findall(r'"(\w+)"', accounts[1]))
    names = re.findall(r'\{ name: "(\w+)", (?:default: \w+, )?selector', source)
    assert {f"editor.{name}" for name in names} <= set(english)
    # Every text is used: a text the card no longer shows is not kept in every language.
    built = {key for key in english if key.split(".")[0] in ("kind", "account", "editor")}
    assert set(english) - built == asked


def test_the_second_language_translates_every_card_text_with_the_same_placeholders() -> None:
    english, german = _card_texts("en"), _card_texts("de")
    assert set(german) == set(english)
    for key, text in english.items():
        assert german[key] != "", key
        assert _placeholders(german[key]) == _placeholders(text), key


def _placeholders(text: str) -> set[str]:
    """The ICU arguments of a message ({name} and {count, plural, ...})."""
    return set(re.findall(r"\{(\w+)(?=[,}])", text))


@pytest.mark.parametrize(
    ("language", "pool", "transfer"), [("en", "Pool", "Transfer"), ("de", "Vorrat", "Übertragen")]
)
async def test_the_card_texts_come_through_home_assistants_translations(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    caplog: pytest.LogCaptureFixture,
    language: str,
    pool: str,
    transfer: str,
) -> None:
    """The card asks the frontend for the "card" category, as for any other translation."""
    assert await async_setup_component(hass, "frontend", {})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "frontend/get_translations",
            "language": language,
            "category": "card",
            "integration": [DOMAIN],
        }
    )
    response = await client.receive_json()
    assert response["success"], response
    resources = response["result"]["resources"]
    prefix = f"component.{DOMAIN}.card."
    assert resources[f"{prefix}pool"] == pool
    assert resources[f"{prefix}transfer_button"] == transfer
    assert resources[f"{prefix}kind.transfer"] in ("Transfer", "Übertragung")
    assert {key.removeprefix(prefix) for key in resources} == set(_card_texts(language))
    # Home Assistant checks each translation's placeholders against English: all parse, all agree.
    assert "localized" not in caplog.text


def test_the_readme_shows_the_card_with_its_chart() -> None:
    """The picture is taken by the end-to-end test (build/e2e/screenshots/card.png)."""
    root = CARD_FILE.parents[3]
    picture = root / "docs" / "card.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](docs/card.png)" in (root / "README.md").read_text(encoding="utf-8")
