"""LLM tools: the voice intents, offered to LLM-based assistants through the Assist API."""

from homeassistant.components.llm import LLMTools
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import intent
from homeassistant.helpers.llm import LLM_API_ASSIST, IntentTool, LLMContext, Tool, ToolAnnotations

from .const import DOMAIN
from .intent import INTENT_BALANCE, INTENT_STATUS, INTENT_TRANSFER

LLM_INTENTS = {
    INTENT_BALANCE: ("Get a device's energy tokens", ToolAnnotations(read_only=True)),
    INTENT_STATUS: ("Get the energy token budget", ToolAnnotations(read_only=True)),
    INTENT_TRANSFER: (
        "Move energy tokens between devices",
        ToolAnnotations(read_only=False, idempotent=False, open_world=False),
    ),
}


@callback
def async_get_tools(hass: HomeAssistant, llm_context: LLMContext, api_id: str) -> LLMTools | None:
    """The intents as tools, when a household is loaded."""
    if api_id != LLM_API_ASSIST or not any(
        entry.state is ConfigEntryState.LOADED
        for entry in hass.config_entries.async_entries(DOMAIN)
    ):
        return None
    tools: list[Tool] = [
        IntentTool(
            f"{DOMAIN}__{handler.intent_type}",
            handler,
            title=LLM_INTENTS[handler.intent_type][0],
            integration=DOMAIN,
            annotations=LLM_INTENTS[handler.intent_type][1],
        )
        for handler in intent.async_get(hass)
        if handler.intent_type in LLM_INTENTS
    ]
    return LLMTools(tools=tools)
