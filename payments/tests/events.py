"""Stripe-shaped events for tests, signed and delivered like Stripe's."""

import itertools
import json
import time

from django.urls import reverse

from payments.gateway import sign

_seq = itertools.count(1)
BASE = 1_780_000_000  # 2026-05-28, a fixed Stripe time


def envelope(event_type, obj, *, created=None, event_id=None):
    return {
        "id": event_id or f"evt_test{next(_seq):06d}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": created if created is not None else BASE,
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


def intent_succeeded(
    order, *, pi="pi_1", charge="ch_1", amount=None, currency=None, created=BASE
):
    return envelope(
        "payment_intent.succeeded",
        {
            "id": pi,
            "object": "payment_intent",
            "amount": order.total_pennies if amount is None else amount,
            "amount_received": order.total_pennies if amount is None else amount,
            "currency": (currency or order.currency).lower(),
            "status": "succeeded",
            "latest_charge": charge,
            "metadata": {"order_id": str(order.pk)},
        },
        created=created,
    )


def charge_succeeded(order, *, pi="pi_1", charge="ch_1", created=BASE):
    return envelope(
        "charge.succeeded",
        {
            "id": charge,
            "object": "charge",
            "amount": order.total_pennies,
            "amount_captured": order.total_pennies,
            "captured": True,
            "currency": order.currency.lower(),
            "payment_intent": pi,
            "created": created,
            "status": "succeeded",
            "metadata": {"order_id": str(order.pk)},
        },
        created=created,
    )


def refund_event(
    refund_id,
    amount,
    *,
    charge="ch_1",
    pi="pi_1",
    status="succeeded",
    created=BASE + 3600,
    event_type="refund.created",
    currency="gbp",
    event_created=None,
):
    return envelope(
        event_type,
        {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "charge": charge,
            "payment_intent": pi,
            "currency": currency,
            "status": status,
            "created": created,
            "reason": "requested_by_customer",
        },
        created=event_created if event_created is not None else created,
    )


def dispute_event(
    dispute_id,
    amount,
    *,
    charge="ch_1",
    event_type="charge.dispute.created",
    status="needs_response",
    created=BASE + 7200,
    withdrawn=None,
):
    obj = {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "charge": charge,
        "currency": "gbp",
        "status": status,
        "reason": "fraudulent",
        "created": BASE + 7000,
        "balance_transactions": [],
    }
    if withdrawn is not None:
        obj["balance_transactions"] = [{"amount": -withdrawn, "fee": 1500}]
    return envelope(event_type, obj, created=created)


def post(client, event, *, secret=None, timestamp=None, raw=None):
    """POST an event to the webhook, signed (now, unless `timestamp`)."""
    body = raw if raw is not None else json.dumps(event, separators=(",", ":")).encode()
    header = sign(body, secret=secret, timestamp=timestamp or int(time.time()))
    return client.post(
        reverse("payments:webhook"),
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": header},
    )
