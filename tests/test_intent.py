"""Voice: the shipped sentences through the real conversation agent; intents as LLM tools."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
import shutil

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import device_registry as dr, llm
from homeassistant.helpers.intent import IntentResponseType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.energy_tokens.ledger import Kind

from .conftest import device_subentry
from .helpers import consume, device_id, entries, state_of

SENTENCES = Path(__file__).resolve().parents[1] / "custom_sentences" / "en" / "energy_tokens.yaml"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [
        device_subentry("Dryer", "sensor.dryer_energy", 30.0),
        device_subentry("Heater", "sensor.heater_energy", 50.0),
    ]


@pytest.fixture
async def assist(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """Assist with the shipped sentences copied where users put them."""
    target = Path(hass.config.path("custom_sentences", "en"))

    def copy() -> None:
        target.mkdir(parents=True)
        shutil.copy(SENTENCES, target / "energy_tokens.yaml")

    await hass.async_add_executor_job(copy)
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "intent", {})


async def _say(hass: HomeAssistant, text: str, *, refused: bool = False) -> str:
    """What Assist answers; ``refused``: the answer is an error (nothing was done)."""
    result = await conversation.async_converse(hass, text, None, Context(), language="en")
    expected = IntentResponseType.ERROR if refused else IntentResponseType.ACTION_DONE
    if not refused and result.response.response_type is IntentResponseType.QUERY_ANSWER:
        expected = IntentResponseType.QUERY_ANSWER
    assert result.response.response_type is expected, result.response.speech
    speech: str = result.response.speech["plain"]["speech"]
    return speech


async def test_ask_for_a_balance(hass: HomeAssistant, assist: None) -> None:
    assert await _say(hass, "how many tokens does the dryer have left") == (
        "The Dryer has 30 tokens left of its 30."
    )
    assert (
        await _say(hass, "what is the heater balance") == "The Heater has 50 tokens left of its 50."
    )


async def test_give_tokens_by_voice(
    hass: HomeAssistant, assist: None, loaded_entry: MockConfigEntry
) -> None:
    assert await _say(hass, "give the heater 3 tokens from the dryer") == (
        "Moved 3 tokens from the Dryer to the Heater. The Heater now has 53 tokens."
    )
    assert state_of(hass, "sensor.dryer_balance") == "27.0"
    [transfer] = await entries(loaded_entry, Kind.TRANSFER)
    assert transfer.amount == 3000
    assert str(transfer.cause).startswith("voice")
    assert await _say(hass, "move 2 tokens from the heater to the dryer") == (
        "Moved 2 tokens from the Heater to the Dryer. The Dryer now has 29 tokens."
    )


@pytest.mark.parametrize(
    ("sentence", "moved", "dryer"),
    [
        ("give 2 tokens from the dryer to the heater", "2 tokens", "28.0"),
        ("move 5 tokens to the heater from the dryer", "5 tokens", "25.0"),
        ("move 0.5 tokens from the dryer to the heater", "0.5 tokens", "29.5"),
        ("transfer 1 token from the dryer to the heater", "1 token", "29.0"),
        ("send 2.5 tokens to the heater from the dryer", "2.5 tokens", "27.5"),
    ],
)
async def test_transfers_in_the_orders_people_say_them(
    hass: HomeAssistant, assist: None, sentence: str, moved: str, dryer: str
) -> None:
    answer = await _say(hass, sentence)
    assert answer.startswith(f"Moved {moved} from the Dryer to the Heater.")
    assert state_of(hass, "sensor.dryer_balance") == dryer


async def test_energy_token_status_is_understood(hass: HomeAssistant, assist: None) -> None:
    for sentence in ("energy token status", "energy tokens status"):
        assert (await _say(hass, sentence)).startswith("Home has 220 tokens unallocated.")


async def test_impossible_amounts_and_misheard_names_get_helpful_answers(
    hass: HomeAssistant, assist: None, loaded_entry: MockConfigEntry
) -> None:
    seq = loaded_entry.runtime_data.economy.ledger.seq
    assert await _say(hass, "give the heater 40 tokens from the dryer", refused=True) == (
        "The Dryer has only 30 tokens, so it can't give 40."
    )
    assert await _say(hass, "how many tokens does the toaster have left", refused=True) == (
        "I don't know a device called toaster. Your devices are Dryer, Heater."
    )
    assert await _say(hass, "how many tokens does the drier have left") == (
        "The Dryer has 30 tokens left of its 30."  # a misheard name close enough to one
    )
    assert await _say(hass, "give the heater 3 tokens from the heater", refused=True) == (
        "Tokens can't move from a device to itself."
    )
    assert await _say(hass, "move 0 tokens from the dryer to the heater", refused=True) == (
        "The amount has to be more than zero tokens."
    )
    assert loaded_entry.runtime_data.economy.ledger.seq == seq  # nothing was written


async def test_household_status(hass: HomeAssistant, assist: None) -> None:
    assert await _say(hass, "how is the energy budget doing") == (
        "Home has 220 tokens unallocated. The period ends in 7 days."
    )


async def test_intents_are_tools_for_llm_assistants(hass: HomeAssistant, assist: None) -> None:
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
    tools = {tool.name: tool for tool in api.tools}
    names = {name for name in tools if "EnergyTokens" in name}
    assert names == {
        "energy_tokens__EnergyTokensBalance",
        "energy_tokens__EnergyTokensStatus",
        "energy_tokens__EnergyTokensTransfer",
    }
    transfer = tools["energy_tokens__EnergyTokensTransfer"]
    assert "energy tokens" in (transfer.description or "")
    result = await api.async_call_tool(
        llm.ToolInput(
            tool_name="energy_tokens__EnergyTokensTransfer",
            tool_args={"from_device": "dryer", "to_device": "heater", "amount": 1.5},
        )
    )
    assert "Moved 1.5 tokens" in str(result)
    assert state_of(hass, "sensor.heater_balance") == "51.5"


@pytest.fixture
def household_settings(household_settings: dict[str, object]) -> dict[str, object]:
    return {**household_settings, "auto_borrow": False}


def _llm_context() -> llm.LLMContext:
    return llm.LLMContext(
        platform="test", context=Context(), language="en", assistant="conversation", device_id=None
    )


async def test_a_name_given_by_the_user_and_an_overdrawn_balance(
    hass: HomeAssistant,
    assist: None,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    registry = dr.async_get(hass)
    registry.async_update_device(device_id(hass, loaded_entry, "Dryer"), name_by_user="Tumbler")
    await consume(hass, set_meter, freezer, "sensor.dryer_energy", 31.5)
    assert await _say(hass, "how many tokens does the tumbler have left") == (
        "The Dryer is 1.5 tokens over; its allowance is 30."
    )


@pytest.mark.parametrize(
    ("before_end", "spoken"),
    [(timedelta(hours=5), "5 hours"), (timedelta(minutes=30), "30 minutes")],
)
async def test_time_left_in_hours_and_minutes(
    hass: HomeAssistant,
    assist: None,
    freezer: FrozenDateTimeFactory,
    loaded_entry: MockConfigEntry,
    before_end: timedelta,
    spoken: str,
) -> None:
    period = loaded_entry.runtime_data.economy.period
    assert period is not None
    freezer.move_to(period.end - before_end)
    assert (await _say(hass, "energy tokens status")).endswith(f"The period ends in {spoken}.")


async def test_transfer_answers_for_unknown_and_other_household_devices(
    hass: HomeAssistant, assist: None, loaded_entry: MockConfigEntry
) -> None:
    assert await _say(hass, "give the toaster 3 tokens from the dryer", refused=True) == (
        "I don't know a device called toaster. Your devices are Dryer, Heater."
    )
    cabin = MockConfigEntry(
        domain="energy_tokens",
        title="Cabin",
        data={**loaded_entry.data, "name": "Cabin"},
        subentries_data=[device_subentry("Sauna", "sensor.sauna_energy", 10.0)],
    )
    cabin.add_to_hass(hass)
    assert await hass.config_entries.async_setup(cabin.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await _say(hass, "give the sauna 2 tokens from the dryer") == (
        "Moved 2 tokens from the Dryer to the Sauna. The Sauna now has 12 tokens."
    )


async def test_a_zero_amount_from_an_llm_is_refused_in_words(
    hass: HomeAssistant, assist: None, loaded_entry: MockConfigEntry
) -> None:
    assert await async_setup_component(hass, "llm", {})
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, _llm_context())
    seq = loaded_entry.runtime_data.economy.ledger.seq
    result = await api.async_call_tool(
        llm.ToolInput(
            tool_name="energy_tokens__EnergyTokensTransfer",
            tool_args={"from_device": "dryer", "to_device": "heater", "amount": 0},
        )
    )
    assert "The amount has to be more than zero tokens." in str(result)
    assert loaded_entry.runtime_data.economy.ledger.seq == seq


async def test_without_a_loaded_household(
    hass: HomeAssistant, assist: None, loaded_entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    assert await _say(hass, "how many tokens does the dryer have left", refused=True) == (
        "There are no Energy Tokens devices yet."
    )
    assert await _say(hass, "energy tokens status", refused=True) == (
        "There is no Energy Tokens household yet."
    )
    assert await async_setup_component(hass, "llm", {})
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, _llm_context())
    assert not [tool for tool in api.tools if "EnergyTokens" in tool.name]


async def test_status_names_the_top_consumer(
    hass: HomeAssistant,
    assist: None,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    await consume(hass, set_meter, freezer, "sensor.heater_energy", 4.0)
    freezer.tick(timedelta(minutes=5))  # the debit interval refreshes the household's figures
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert await _say(hass, "energy tokens status") == (
        "Home has 220 tokens unallocated. The Heater consumed the most. The period ends in 7 days."
    )
