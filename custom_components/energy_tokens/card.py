"""The dashboard card: served by the integration and registered as a dashboard resource."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from homeassistant.components.http.server import StaticPathConfig
from homeassistant.components.lovelace.const import LOVELACE_DATA, MODE_STORAGE
from homeassistant.components.lovelace.resources import ResourceStorageCollection
from homeassistant.core import HomeAssistant

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

CARD_FILE = Path(__file__).parent / "frontend" / "energy-tokens-card.js"
CARD_URL = f"/{DOMAIN}/energy-tokens-card.js"


def _versioned_url() -> str:
    """The card's address with its content hash, so browsers fetch a changed card anew."""
    digest = hashlib.sha256(CARD_FILE.read_bytes()).hexdigest()[:12]
    return f"{CARD_URL}?v={digest}"


def _resources(hass: HomeAssistant) -> ResourceStorageCollection | None:
    """The dashboards' resource list when the UI manages it; None without dashboards or in YAML."""
    lovelace = hass.data.get(LOVELACE_DATA)
    if lovelace is None:
        return None
    if lovelace.resource_mode != MODE_STORAGE or not isinstance(
        lovelace.resources, ResourceStorageCollection
    ):
        _LOGGER.info(
            "Dashboard resources are kept in YAML: add %s as a JavaScript module resource "
            "to use the Energy Tokens card",
            CARD_URL,
        )
        return None
    return lovelace.resources


async def async_setup_card(hass: HomeAssistant) -> None:
    """Serve the card, and add it to (or update it in) the dashboards' resources."""
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL, str(CARD_FILE), cache_headers=True)]
    )
    if (resources := _resources(hass)) is None:
        return
    url = await hass.async_add_executor_job(_versioned_url)
    await resources.async_get_info()  # loads the stored list
    for item in resources.async_items():
        if item["url"].partition("?")[0] == CARD_URL:
            if item["url"] != url:
                await resources.async_update_item(item["id"], {"url": url})
            return
    await resources.async_create_item({"res_type": "module", "url": url})


async def async_remove_card(hass: HomeAssistant) -> None:
    """Take the card out of the dashboards' resources (the last household was removed)."""
    if (resources := _resources(hass)) is None:
        return
    await resources.async_get_info()
    for item in list(resources.async_items()):
        if item["url"].partition("?")[0] == CARD_URL:
            await resources.async_delete_item(item["id"])
