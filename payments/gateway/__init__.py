"""Payment gateways: the calls our code makes on Stripe, and who answers them.

`get_gateway()` picks by `PAYMENTS_USE_STRIPE`: the real gateway (`stripe_api`,
Stripe's SDK at `STRIPE_API_BASE`) or the offline Stripe simulator (`offline`).
Every method of `Gateway` refuses to run inside a database transaction (`guard`):
a write that needs Stripe records its intent, commits, calls Stripe, then applies
the answer in a transaction of its own.
"""

from typing import Protocol

from django.conf import settings

from catalog.models import Variant
from orders.models import Order
from payments.gateway.checkout_session import CheckoutSession
from payments.gateway.guard import NetworkCallInTransaction
from payments.gateway.offline import (
    OfflineGateway,
    deliver,
    event_envelope,
    period_end,
    sign,
)
from payments.gateway.stripe_api import StripeGateway

__all__ = [
    "CheckoutSession",
    "Gateway",
    "NetworkCallInTransaction",
    "OfflineGateway",
    "StripeGateway",
    "deliver",
    "event_envelope",
    "get_gateway",
    "period_end",
    "sign",
]


class Gateway(Protocol):
    """What our code asks of Stripe; each call refuses an open transaction."""

    def create_checkout_session(
        self, *, order: Order, success_url: str, cancel_url: str, attempt: int
    ) -> CheckoutSession: ...

    def expire_checkout_session(self, *, session_id: str) -> None: ...

    def create_subscription_checkout(
        self,
        *,
        customer,
        variant: Variant,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        stripe_customer_id: str = "",
    ) -> CheckoutSession: ...

    def cancel_subscription_at_period_end(self, *, subscription_id: str) -> dict: ...

    def cancel_subscription_now(self, *, subscription_id: str) -> dict: ...

    def create_refund(
        self,
        *,
        payment_intent: str,
        charge: str,
        amount_pennies: int,
        reason: str,
        idempotency_key: str,
        metadata: dict,
        charge_amount_pennies: int = 0,
        refunded_before_pennies: int = 0,
    ) -> dict: ...


def get_gateway() -> Gateway:
    """Stripe's API when `PAYMENTS_USE_STRIPE` is on, else the offline simulator."""
    return StripeGateway() if settings.PAYMENTS_USE_STRIPE else OfflineGateway()
