"""Payment gateways: the real one (Stripe's SDK) and the offline one.

`get_gateway()` picks by `PAYMENTS_USE_STRIPE`. The offline gateway mints
Stripe-shaped ids and objects and delivers signed Stripe-shaped events through
`payments.webhook.receive`, the code path Stripe's own deliveries take; nothing
after the signature check knows which gateway produced an event.
"""

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

import stripe
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from orders.models import Order


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


def _metadata(order: Order) -> dict:
    return {"order_id": str(order.pk), "order_number": order.number}


class StripeGateway:
    """Stripe's API through the official SDK, pinned to STRIPE_API_VERSION."""

    def __init__(self, *, http_client=None):
        self.client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            stripe_version=settings.STRIPE_API_VERSION,
            max_network_retries=2,
            http_client=http_client,
        )

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
                "metadata": _metadata(order),
                "payment_intent_data": {"metadata": _metadata(order)},
                "success_url": success_url,
                "cancel_url": cancel_url,
                # Stripe's minimum; the stock reservation lasts as long.
                "expires_at": int(time.time())
                + 60 * max(30, settings.STOCK_RESERVATION_MINUTES),
            },
            options={"idempotency_key": f"checkout-{order.pk}-{attempt}"},
        )
        return CheckoutSession(id=session.id, url=session.url)

    def expire_checkout_session(self, *, session_id: str) -> None:
        self.client.v1.checkout.sessions.expire(session_id)

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


# --- offline ------------------------------------------------------------------------


def _stripe_id(prefix: str, seed: str | None = None) -> str:
    """A Stripe-shaped id; deterministic for a seed (idempotency keys)."""
    if seed is None:
        body = secrets.token_hex(12)
    else:
        body = hashlib.sha256(seed.encode()).hexdigest()[:24]
    return f"{prefix}_offline{body}"


def sign(
    payload: bytes, *, secret: str | None = None, timestamp: int | None = None
) -> str:
    """A `Stripe-Signature` header for `payload`, as Stripe computes it."""
    import hmac

    secret = secret or settings.STRIPE_WEBHOOK_SECRET.split(",")[0].strip()
    timestamp = timestamp or int(time.time())
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_envelope(event_type: str, obj: dict, *, created: int | None = None) -> dict:
    return {
        "id": _stripe_id("evt"),
        "object": "event",
        "api_version": settings.STRIPE_API_VERSION,
        "created": created or int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def deliver(events: list[dict]) -> list:
    """Sign and hand each event to the webhook pipeline, in order."""
    from payments.webhook import receive

    results = []
    for event in events:
        body = json.dumps(event, separators=(",", ":")).encode()
        results.append(receive(body=body, signature=sign(body)))
    return results


class OfflineGateway:
    """Offline payments for dev, demo and tests: a local checkout page and signed
    Stripe-shaped events delivered after the current transaction commits."""

    def create_checkout_session(
        self, *, order: Order, success_url: str, cancel_url: str, attempt: int
    ) -> CheckoutSession:
        session_id = _stripe_id(
            "cs_test", f"{order.pk}:{attempt}:{secrets.token_hex(4)}"
        )
        return CheckoutSession(
            id=session_id,
            url=reverse("payments:offline_checkout", args=[session_id]),
        )

    def expire_checkout_session(self, *, session_id: str) -> None:
        order = Order.objects.filter(stripe_checkout_session_id=session_id).first()
        events = [
            event_envelope(
                "checkout.session.expired",
                self._session(session_id, order, status="expired", payment_intent=None),
            )
        ]
        transaction.on_commit(lambda: deliver(events))

    def pay(self, *, order: Order, session_id: str, decline: bool = False) -> None:
        """What Stripe sends when the customer pays (or the card is declined)."""
        pi_id, charge_id = _stripe_id("pi"), _stripe_id("ch")
        now = int(time.time())
        amount, currency = order.total_pennies, order.currency.lower()
        if decline:
            intent = self._intent(order, pi_id, None, "requires_payment_method", now)
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
                "charge": charge_id,
            }
            events = [
                event_envelope("payment_intent.payment_failed", intent, created=now)
            ]
        else:
            charge = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "captured": True,
                "currency": currency,
                "created": now,
                "paid": True,
                "status": "succeeded",
                "payment_intent": pi_id,
                "metadata": _metadata(order),
                "billing_details": {"email": order.email, "name": order.shipping_name},
                "refunded": False,
            }
            events = [
                event_envelope(
                    "checkout.session.completed",
                    self._session(
                        session_id, order, status="complete", payment_intent=pi_id
                    ),
                    created=now,
                ),
                event_envelope(
                    "payment_intent.succeeded",
                    self._intent(order, pi_id, charge_id, "succeeded", now),
                    created=now,
                ),
                event_envelope("charge.succeeded", charge, created=now),
            ]
        transaction.on_commit(lambda: deliver(events))

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
        """Answers as Stripe does (the same refund for the same key), then confirms it
        with refund.created and charge.refunded events after commit."""
        now = int(time.time())
        refund = {
            "id": _stripe_id("re", idempotency_key),
            "object": "refund",
            "amount": amount_pennies,
            "charge": charge,
            "payment_intent": payment_intent,
            "currency": settings.STORE_CURRENCY.lower(),
            "created": now,
            "reason": reason or None,
            "status": "pending",
            "metadata": metadata,
        }
        confirmed = dict(refund, status="succeeded")
        # From API 2022-11-15 charge.refunded no longer lists the refunds.
        charge_obj = {
            "id": charge,
            "object": "charge",
            "amount": charge_amount_pennies,
            "amount_refunded": refunded_before_pennies + amount_pennies,
            "currency": refund["currency"],
            "payment_intent": payment_intent,
            "created": now,
            "status": "succeeded",
            "captured": True,
            "refunded": refunded_before_pennies + amount_pennies
            >= charge_amount_pennies,
        }
        events = [
            event_envelope("refund.created", confirmed, created=now),
            event_envelope("charge.refunded", charge_obj, created=now),
        ]
        transaction.on_commit(lambda: deliver(events))
        return refund

    def open_dispute(
        self, *, charge: str, amount_pennies: int, currency: str, outcome: str = ""
    ) -> None:
        """What Stripe sends when a card holder disputes a charge (demo and tests):
        created and funds withdrawn; with `outcome` "won" or "lost", the close too."""
        now = int(time.time())
        dispute = {
            "id": _stripe_id("dp"),
            "object": "dispute",
            "amount": amount_pennies,
            "charge": charge,
            "currency": currency.lower(),
            "created": now,
            "reason": "fraudulent",
            "status": "needs_response",
            "balance_transactions": [],
        }
        withdrawn = dict(
            dispute,
            balance_transactions=[{"amount": -amount_pennies, "fee": 1500}],
        )
        events = [
            event_envelope("charge.dispute.created", dispute, created=now),
            event_envelope("charge.dispute.funds_withdrawn", withdrawn, created=now),
        ]
        if outcome == "won":
            back = dict(
                withdrawn,
                status="won",
                balance_transactions=[
                    {"amount": -amount_pennies, "fee": 1500},
                    {"amount": amount_pennies, "fee": 0},
                ],
            )
            events += [
                event_envelope("charge.dispute.funds_reinstated", back, created=now),
                event_envelope("charge.dispute.closed", back, created=now),
            ]
        elif outcome == "lost":
            events.append(
                event_envelope(
                    "charge.dispute.closed", dict(withdrawn, status="lost"), created=now
                )
            )
        transaction.on_commit(lambda: deliver(events))

    @staticmethod
    def _intent(order, pi_id, charge_id, status, now):
        return {
            "id": pi_id,
            "object": "payment_intent",
            "amount": order.total_pennies,
            "amount_received": order.total_pennies if status == "succeeded" else 0,
            "currency": order.currency.lower(),
            "created": now,
            "status": status,
            "latest_charge": charge_id,
            "metadata": _metadata(order),
            "receipt_email": order.email,
        }

    @staticmethod
    def _session(session_id, order, *, status, payment_intent):
        return {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": status,
            "payment_status": "paid" if status == "complete" else "unpaid",
            "amount_total": order.total_pennies if order else None,
            "currency": order.currency.lower() if order else None,
            "client_reference_id": str(order.pk) if order else None,
            "customer_email": order.email if order else None,
            "metadata": _metadata(order) if order else {},
            "payment_intent": payment_intent,
        }


def get_gateway():
    return StripeGateway() if settings.PAYMENTS_USE_STRIPE else OfflineGateway()
