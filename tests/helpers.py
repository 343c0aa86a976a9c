"""Small helpers shared by the Home Assistant tests."""

from homeassistant.core import HomeAssistant


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """The state string of an entity that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, f"{entity_id} does not exist"
    return state.state
