"""A household's and its devices' settings, read from the config entry into exact integers.

Money and amounts that reach the ledger are integers: milli-tokens, Wh per token, micro-units
of the currency per token. Pure: the economy reads these without Home Assistant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .const import (
    CONF_ALLOWANCE,
    CONF_AUTO_BORROW,
    CONF_CAP_TOKENS,
    CONF_CUT_POLICY,
    CONF_DEBIT_INTERVAL,
    CONF_ENFORCE,
    CONF_LOAD,
    CONF_LOW_THRESHOLD,
    CONF_MAX_POWER_KW,
    CONF_MAY_LEND,
    CONF_METER,
    CONF_NAME,
    CONF_PERIOD,
    CONF_PERIOD_START_DAY,
    CONF_PERIOD_START_WEEKDAY,
    CONF_PRICE,
    CONF_PRIORITY,
    CONF_SELL_PRICE,
    CONF_SURPLUS,
    CONF_TOKEN_KWH,
    DEFAULTS,
    CutPolicy,
    Priority,
    Surplus,
)
from .periods import PeriodKind, PeriodSpec

MILLI = 1000
MICRO = 1_000_000


def to_milli(tokens: float) -> int:
    """Tokens as integer milli-tokens."""
    return round(tokens * MILLI)


@dataclass(frozen=True, slots=True)
class HouseholdSettings:
    """The household's economy."""

    token_wh: int
    period: PeriodSpec
    cap_milli: int
    price_micro: int
    surplus: Surplus
    sell_price_micro: int
    auto_borrow: bool
    low_threshold: int
    debit_interval_min: int
    max_power_w: float

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> HouseholdSettings:
        """Read an entry's data; settings it lacks take their defaults."""
        merged = {**DEFAULTS, **data}
        kind = PeriodKind(merged[CONF_PERIOD])
        start_day = (
            int(merged[CONF_PERIOD_START_WEEKDAY])
            if kind is PeriodKind.WEEKLY
            else int(merged[CONF_PERIOD_START_DAY])
        )
        return cls(
            token_wh=max(1, round(float(merged[CONF_TOKEN_KWH]) * 1000)),
            period=PeriodSpec(kind, start_day),
            cap_milli=to_milli(float(merged[CONF_CAP_TOKENS])),
            price_micro=round(float(merged[CONF_PRICE]) * MICRO),
            surplus=Surplus(merged[CONF_SURPLUS]),
            sell_price_micro=round(float(merged[CONF_SELL_PRICE]) * MICRO),
            auto_borrow=bool(merged[CONF_AUTO_BORROW]),
            low_threshold=int(merged[CONF_LOW_THRESHOLD]),
            debit_interval_min=int(merged[CONF_DEBIT_INTERVAL]),
            max_power_w=float(merged[CONF_MAX_POWER_KW]) * 1000,
        )

    def money(self) -> dict[str, int | str]:
        """What a period-open marker records: the settings money and allowances depend on."""
        return {
            "token_wh": self.token_wh,
            "period": self.period.kind.value,
            "start_day": self.period.start_day,
            "cap_milli": self.cap_milli,
            "price_micro": self.price_micro,
            "surplus": self.surplus.value,
            "sell_price_micro": self.sell_price_micro,
        }

    def with_money(self, money: Mapping[str, Any]) -> HouseholdSettings:
        """These settings, with the money settings a period was opened with."""
        return HouseholdSettings(
            token_wh=int(money["token_wh"]),
            period=PeriodSpec(PeriodKind(money["period"]), int(money["start_day"])),
            cap_milli=int(money["cap_milli"]),
            price_micro=int(money["price_micro"]),
            surplus=Surplus(money["surplus"]),
            sell_price_micro=int(money["sell_price_micro"]),
            auto_borrow=self.auto_borrow,
            low_threshold=self.low_threshold,
            debit_interval_min=self.debit_interval_min,
            max_power_w=self.max_power_w,
        )


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """One device of the household."""

    subentry_id: str
    name: str
    meter: str
    allowance_milli: int
    priority: Priority
    may_lend: bool
    load: str | None
    cut_policy: CutPolicy
    enforce: bool = True  # the enforcement switch: off, running out never cuts the load

    @classmethod
    def from_data(cls, subentry_id: str, data: Mapping[str, Any]) -> DeviceSettings:
        """Read a device subentry's data."""
        return cls(
            subentry_id=subentry_id,
            name=data[CONF_NAME],
            meter=data[CONF_METER],
            allowance_milli=to_milli(float(data[CONF_ALLOWANCE])),
            priority=Priority(data[CONF_PRIORITY]),
            may_lend=bool(data[CONF_MAY_LEND]),
            load=data.get(CONF_LOAD),
            cut_policy=CutPolicy(data[CONF_CUT_POLICY]),
            enforce=bool(data.get(CONF_ENFORCE, True)),
        )

    @property
    def account(self) -> str:
        """The device's ledger account."""
        return device_account(self.subentry_id)


def device_account(subentry_id: str) -> str:
    """The ledger account of a device subentry."""
    return f"device:{subentry_id}"
