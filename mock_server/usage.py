"""Dify's usage block: token counts, prices as decimal strings, currency, latency and its two parts.

Real servers compute each price as tokens * unit_price * price_unit, rounded half-up to 7 decimal
places, and write it with str(Decimal) ("0.0000090"; a zero is "0E-7"); strict SDKs parse all twelve
fields. The prices come from the app's `model` settings in fixtures.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

SEVEN_PLACES = Decimal("0.0000001")


@dataclass(frozen=True)
class ModelPricing:
    """What the app's model costs (fixtures: app.yaml `model`)."""

    prompt_unit_price: Decimal = Decimal("0.001")
    completion_unit_price: Decimal = Decimal("0.002")
    price_unit: Decimal = Decimal("0.001")
    currency: str = "USD"

    @classmethod
    def from_fixture(cls, doc: dict[str, Any] | None) -> ModelPricing:
        doc = doc or {}
        default = cls()
        return cls(
            prompt_unit_price=Decimal(str(doc.get("prompt_unit_price", default.prompt_unit_price))),
            completion_unit_price=Decimal(
                str(doc.get("completion_unit_price", default.completion_unit_price))
            ),
            price_unit=Decimal(str(doc.get("price_unit", default.price_unit))),
            currency=str(doc.get("currency", default.currency)),
        )

    def usage(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float, first_token_s: float = 0.0
    ) -> dict[str, Any]:
        """The usage block, keys in Dify's order: the twelve older fields, then the seconds to the
        first token and from it to the last (Dify 1.12.1 sends both: chatflow/004-chat_blocking.json)."""
        return {
            **self._priced(prompt_tokens, completion_tokens),
            "latency": round(latency_s, 3),
            "time_to_first_token": round(first_token_s, 3),
            "time_to_generate": round(max(0.0, latency_s - first_token_s), 3),
        }

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - pricings are few and live as long as their app
    def _priced(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """The eleven fields before `latency` (Decimal arithmetic: a tenth of a chat answer's time when
        it was done for every answer; canned answers repeat the same token counts)."""
        prompt_price = _price(prompt_tokens, self.prompt_unit_price, self.price_unit)
        completion_price = _price(completion_tokens, self.completion_unit_price, self.price_unit)
        return {
            "prompt_tokens": prompt_tokens,
            "prompt_unit_price": str(self.prompt_unit_price),
            "prompt_price_unit": str(self.price_unit),
            "prompt_price": str(prompt_price),
            "completion_tokens": completion_tokens,
            "completion_unit_price": str(self.completion_unit_price),
            "completion_price_unit": str(self.price_unit),
            "completion_price": str(completion_price),
            "total_tokens": prompt_tokens + completion_tokens,
            "total_price": str(prompt_price + completion_price),
            "currency": self.currency,
        }


def _price(tokens: int, unit_price: Decimal, price_unit: Decimal) -> Decimal:
    return (Decimal(tokens) * unit_price * price_unit).quantize(SEVEN_PLACES, rounding=ROUND_HALF_UP)
