"""The dashboard card: served by the integration and loaded by the frontend on every page.

Home Assistant's ``add_extra_js_url`` loads it, so the user's dashboard resources are never
written to. The URL carries the card's content hash, so browsers fetch a changed card anew.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http.server import StaticPathConfig
from homeassistant.core import HomeAssistant

from .const import DOMAIN

CARD_FILE = Path(__file__).parent / "frontend" / "energy-tokens-card.js"
CARD_URL = f"/{DOMAIN}/energy-tokens-card.js"


def versioned_url() -> str:
    """The card's address with its content hash (reads the file: run it in the executor)."""
    digest = hashlib.sha256(CARD_FILE.read_bytes()).hexdigest()[:12]
    return f"{CARD_URL}?v={digest}"


async def async_setup_card(hass: HomeAssistant) -> None:
    """Serve the card and have the frontend load it (when the frontend runs)."""
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL, str(CARD_FILE), cache_headers=True)]
    )
    if "frontend" in hass.config.components:
        add_extra_js_url(hass, await hass.async_add_executor_job(versioned_url))
