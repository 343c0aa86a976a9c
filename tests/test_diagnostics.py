"""Diagnostics: statistics and public key only, never the private key."""

import base64
import json

from cryptography.hazmat.primitives import serialization
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.energy_tokens.ledger import Kind, load_or_create_signing_key
from custom_components.energy_tokens.runtime import storage_directory


async def test_diagnostics(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, loaded_entry: MockConfigEntry
) -> None:
    ledger = loaded_entry.runtime_data.economy.ledger
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1500)
    result = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    assert result["entry"]["title"] == "Home"
    assert result["ledger"]["entries"] == ledger.seq
    assert result["ledger"]["durable_entries"] == ledger.seq - 1  # the purchase is pending
    assert result["verification"]["valid"] is True
    assert result["balances_milli_tokens"] == {"provider": -301_500, "pool": 301_500}
    assert result["ledger"]["verifier_key"].startswith(f"energy-tokens/{loaded_entry.entry_id}+")

    key = load_or_create_signing_key(storage_directory(hass, loaded_entry.entry_id) / "signing.key")
    raw = key.private_bytes_raw()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    text = json.dumps(result)
    for secret in (raw.hex(), base64.b64encode(raw).decode(), pem.decode().splitlines()[1]):
        assert secret not in text
