"""The real gateway: Stripe's API through the official SDK."""

import json
import time
from collections.abc import Callable

import stripe
from django.conf import settings

from catalog.models import Variant
from orders.models import Order
from payments.gateway.checkout_session import (
    CheckoutSession,
    order_metadata,
    subscription_metadata,
)
from payments.gateway.guard import network_call

# Stripe's list endpoints the history backfill reads (`payments.services.backfill`),
# by API resource name: the extra parameters each list takes.
LISTS = {
    "prices": {},
    "customers": {},
    "payment_intents": {"expand": ["data.latest_charge"]},
    "charges": {},
    "refunds": {},
    "disputes": {},
    "invoices": {"expand": ["data.payments"]},
    "subscriptions": {"status": "all"},
    "payouts": {},
    "balance_transactions": {},
    "events": {},
}


class ListNotFound(LookupError):
    """The server has no such list (a Stripe-compatible one may lack some)."""


RATE_LIMIT_TRIES = 8  # 1 + 2 + 4 + ... + 64 s: over two minutes of 429s, then give up


def with_backoff(
    call: Callable[[], object],
    *,
    tries: int = RATE_LIMIT_TRIES,
    sleep: Callable[[float], None] = time.sleep,
):
    """`call()`, waiting and trying again while Stripe answers 429 (rate limited):
    1 s, then twice as long each time; the SDK retries only network errors and
    conflicts. The last RateLimitError is raised."""
    for attempt in range(tries):
        try:
            return call()
        except stripe.RateLimitError:
            if attempt == tries - 1:
                raise
            sleep(2.0**attempt)
    raise AssertionError("unreachable")


class StripeGateway:
    """Stripe's API through the official SDK, pinned to STRIPE_API_VERSION, at
    STRIPE_API_BASE (Stripe's own, or a Stripe-compatible server such as
    localstripe)."""

    def __init__(
        self, *, http_client=None, sleep: Callable[[float], None] = time.sleep
    ):
        self.sleep = sleep  # between tries after a 429
        self.client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            stripe_version=settings.STRIPE_API_VERSION,
            # The SDK appends "/v1/...": a trailing slash would double it.
            base_addresses={"api": settings.STRIPE_API_BASE.rstrip("/")},
            max_network_retries=2,
            http_client=http_client,
        )

    @network_call
    def create_checkout_session(
        self, *, order: Order, success_url: str, cancel_url: str, attempt: int
    ) -> CheckoutSession:
        """A Checkout Session (mode=payment); its PaymentIntent carries the order id."""
        line_items = [
            {
                "quantity": line.quantity,
                "price_data": {
                    "currency": order.currency.lower(),
                    "unit_amount": line.unit_price_pennies,
                    "product_data": {
                        "name": line.product_name
                        + (f" ({line.variant_label})" if line.variant_label else "")
                    },
                },
            }
            for line in order.lines.all()
        ]
        if order.shipping_pennies:
            line_items.append(
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": order.shipping_pennies,
                        "product_data": {"name": "Shipping"},
                    },
                }
            )
        session = self.client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": line_items,
                "customer_email": order.email,
                "client_reference_id": str(order.pk),
                "metadata": order_metadata(order),
                "payment_intent_data": {"metadata": order_metadata(order)},
                "success_url": success_url,
                "cancel_url": cancel_url,
                # Stripe's minimum; the stock reservation lasts as long.
                "expires_at": int(time.time())
                + 60 * max(30, settings.STOCK_RESERVATION_MINUTES),
            },
            options={"idempotency_key": f"checkout-{order.pk}-{attempt}"},
        )
        return CheckoutSession(id=session.id, url=session.url)

    @network_call
    def expire_checkout_session(self, *, session_id: str) -> None:
        self.client.v1.checkout.sessions.expire(session_id)

    @network_call
    def create_subscription_checkout(
        self,
        *,
        customer,
        variant: Variant,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        stripe_customer_id: str = "",
    ) -> CheckoutSession:
        """A Checkout Session (mode=subscription) for one subscription variant; the
        session and the subscription it makes carry the user and variant ids.
        A returning subscriber keeps their Stripe customer."""
        product = variant.product
        params = {
            "mode": "subscription",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": product.currency.lower(),
                        "unit_amount": variant.price_pennies,
                        "recurring": {"interval": product.billing_interval},
                        "product_data": {"name": str(variant)},
                    },
                }
            ],
            "client_reference_id": str(customer.pk),
            "metadata": subscription_metadata(customer, variant),
            "subscription_data": {"metadata": subscription_metadata(customer, variant)},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if stripe_customer_id:
            params["customer"] = stripe_customer_id
        else:
            params["customer_email"] = customer.email
        session = self.client.v1.checkout.sessions.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
        return CheckoutSession(id=session.id, url=session.url)

    @network_call
    def cancel_subscription_at_period_end(self, *, subscription_id: str) -> dict:
        """Stripe keeps billing until the period ends, then deletes the subscription;
        returns the updated subscription (the webhook event confirms it)."""
        subscription = self.client.v1.subscriptions.update(
            subscription_id, params={"cancel_at_period_end": True}
        )
        return subscription.to_dict()

    @network_call
    def cancel_subscription_now(self, *, subscription_id: str) -> dict:
        """Ends the subscription at once (an erasure); returns the canceled
        subscription (the webhook event confirms it)."""
        return self.client.v1.subscriptions.cancel(subscription_id).to_dict()

    @network_call
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
    ) -> dict:
        """A refund of the PaymentIntent (or, without one, the charge); the charge
        amounts are the offline gateway's to use, Stripe knows them."""
        params = {"amount": amount_pennies, "metadata": metadata}
        if payment_intent:
            params["payment_intent"] = payment_intent
        else:
            params["charge"] = charge
        if reason:
            params["reason"] = reason
        refund = self.client.v1.refunds.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
        return refund.to_dict()

    @network_call
    def list_page(
        self,
        *,
        resource: str,
        starting_after: str = "",
        created_gte: int | None = None,
        limit: int = 100,
    ) -> tuple[list[dict], bool]:
        """One page of a Stripe list, newest first: (objects, has_more). Pages on
        with `starting_after` (the last id of the page before); `created_gte`
        keeps only objects made at or after that Stripe time. Waits out 429s."""
        params = {"limit": limit, **LISTS[resource]}
        if starting_after:
            params["starting_after"] = starting_after
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        service = getattr(self.client.v1, resource)
        try:
            page = with_backoff(lambda: service.list(params=params), sleep=self.sleep)
        except stripe.StripeError as exc:
            if exc.http_status == 404:
                raise ListNotFound(resource) from exc
            raise
        # The objects as Stripe sent them (the SDK turns decimal strings into
        # Decimals, which an event body cannot hold).
        body = json.loads(page.last_response.body)
        return body["data"], bool(body.get("has_more"))

    # Money to the bank (payments.services.settlement): read-only, retried by the
    # SDK on network errors (max_network_retries), never in a lock.

    @network_call
    def charge_balance_transaction(self, *, charge: str) -> dict | None:
        """The charge's balance transaction, or None while Stripe has none yet."""
        obj = self.client.v1.charges.retrieve(
            charge, params={"expand": ["balance_transaction"]}
        ).to_dict()
        bt = obj.get("balance_transaction")
        return bt if isinstance(bt, dict) else None

    @network_call
    def refund_balance_transaction(self, *, refund: str) -> dict | None:
        obj = self.client.v1.refunds.retrieve(
            refund, params={"expand": ["balance_transaction"]}
        ).to_dict()
        bt = obj.get("balance_transaction")
        return bt if isinstance(bt, dict) else None

    @network_call
    def dispute_balance_transactions(self, *, dispute: str) -> list[dict]:
        """A dispute's balance transactions (Stripe always expands them)."""
        obj = self.client.v1.disputes.retrieve(dispute).to_dict()
        return [
            bt for bt in obj.get("balance_transactions") or [] if isinstance(bt, dict)
        ]

    @network_call
    def payout_balance_transactions(self, *, payout: str) -> list[dict]:
        """Every balance transaction of an automatic payout, all pages."""
        page = self.client.v1.balance_transactions.list(
            params={"payout": payout, "limit": 100}
        )
        return [bt.to_dict() for bt in page.auto_paging_iter()]
