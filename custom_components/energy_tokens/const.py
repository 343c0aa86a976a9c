"""Constants of the Energy Tokens integration."""

from enum import StrEnum
from typing import Final

DOMAIN: Final = "energy_tokens"

# Entries appended within this many seconds share one fsync (group commit).
COMMIT_DELAY_SECONDS: Final = 1.0

SUBENTRY_DEVICE: Final = "device"
SUBENTRY_COMMUNITY: Final = "community"  # the MQTT community the household joined (one at most)
SUBENTRY_MEMBER: Final = "member"  # a household of the community this one admitted
CONF_PREFIX: Final = "prefix"  # the community's MQTT topic prefix
CONF_SHARE_TOTALS: Final = "share_totals"  # publish each closed period's totals (opt-in)
EVENT_WITNESS_REFUSED: Final = "energy_tokens_witness_refused"

# Household settings (config entry data)
CONF_TOKEN_KWH: Final = "token_kwh"  # noqa: S105 - energy per token, not a secret
CONF_PERIOD: Final = "period"
CONF_PERIOD_START_DAY: Final = "period_start_day"
CONF_PERIOD_START_WEEKDAY: Final = "period_start_weekday"
CONF_CAP_TOKENS: Final = "cap_tokens"
CONF_PRICE: Final = "price_per_token"
CONF_SURPLUS: Final = "surplus"
CONF_SELL_PRICE: Final = "sell_price"
CONF_AUTO_BORROW: Final = "auto_borrow"
CONF_LOW_THRESHOLD: Final = "low_threshold"
CONF_DEBIT_INTERVAL: Final = "debit_interval"
CONF_MAX_POWER_KW: Final = "max_power_kw"
CONF_APPLY_NOW: Final = "apply_now"

# Device settings (subentry data)
CONF_NAME: Final = "name"  # as Home Assistant's own CONF_NAME; kept here so settings stay pure
CONF_METER: Final = "meter"
CONF_METERS: Final = "meters"
CONF_ALLOWANCE: Final = "allowance"
CONF_LEDGER_SEEN: Final = "ledger_seen"  # the last checkpoint seen: size, head, key
CONF_PRIORITY: Final = "priority"
CONF_MAY_LEND: Final = "may_lend"
CONF_LOAD: Final = "load"
CONF_CUT_POLICY: Final = "cut_policy"
CONF_ENFORCE: Final = "enforce"  # set by the device's enforcement switch


class Surplus(StrEnum):
    """What happens to unused tokens at period end."""

    ROLLOVER = "rollover"
    SELL = "sell"
    FORFEIT = "forfeit"
    COMMUNITY = "community"  # offered to the community's members (rolled over outside one)


class Priority(StrEnum):
    """How essential a device's load is."""

    ESSENTIAL = "essential"
    NORMAL = "normal"
    DEFERRABLE = "deferrable"


class CutPolicy(StrEnum):
    """What happens to a device's load when its budget runs out."""

    NEVER = "never"
    NOTIFY = "notify"
    TURN_OFF = "turn_off"


WEEKDAYS: Final = ("0", "1", "2", "3", "4", "5", "6")

DEFAULTS: Final[dict[str, object]] = {
    CONF_TOKEN_KWH: 1.0,
    CONF_PERIOD: "monthly",
    CONF_PERIOD_START_DAY: 1,
    CONF_PERIOD_START_WEEKDAY: "0",
    CONF_CAP_TOKENS: 300.0,
    CONF_PRICE: 0.30,
    CONF_SURPLUS: Surplus.ROLLOVER.value,
    CONF_SELL_PRICE: 0.10,
    CONF_AUTO_BORROW: True,
    CONF_LOW_THRESHOLD: 20,
    CONF_DEBIT_INTERVAL: 5,
    CONF_MAX_POWER_KW: 25.0,
}

LOAD_DOMAINS: Final = (
    "switch",
    "light",
    "fan",
    "climate",
    "water_heater",
    "media_player",
    "input_boolean",
    "humidifier",
    "vacuum",
)
