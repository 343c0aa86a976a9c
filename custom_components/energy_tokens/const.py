"""Constants of the Energy Tokens integration."""

from typing import Final

DOMAIN: Final = "energy_tokens"
