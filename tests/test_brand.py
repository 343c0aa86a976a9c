"""The integration's own brand images, served by Home Assistant to its pickers."""

import struct

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.energy_tokens.const import DOMAIN

SIZES = {"icon.png": 256, "icon@2x.png": 512, "logo.png": 256, "logo@2x.png": 512}


@pytest.mark.parametrize("prefix", ["", "dark_"])
@pytest.mark.parametrize("image", SIZES)
async def test_every_brand_image_is_served_from_the_integration(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, prefix: str, image: str
) -> None:
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()
    response = await client.get(f"/api/brands/integration/{DOMAIN}/{prefix}{image}")
    assert response.status == 200
    assert response.content_type == "image/png"
    data = await response.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width == height == SIZES[image]
