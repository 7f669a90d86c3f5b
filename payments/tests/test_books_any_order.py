"""Every ordering of a dispute's, a refund's and a double payment's events, with
duplicates, posted to the webhook endpoint, ends in identical books: payments,
refunds, disputes, order fields, ops cases, stock and the day's snapshot.

Each ordering gets its own customer, order, variant, Stripe ids (suffix `_k`) and
business day (k days on), so one database holds them all; the books are compared
with the suffix and the day's offset taken out.
"""

import datetime as dt
import itertools
import json
import re
import time

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from analyticsapp.models import DailySnapshot
from analyticsapp.services.snapshots import snapshots_build
from catalog.models import Variant
from catalog.tests.factories import VariantFactory
from core.timeutils import business_day
from orders.models import Order
from orders.tests.factories import place_order
from payments.gateway import sign
from payments.models import (
    Dispute,
    Payment,
    PaymentException,
    Refund,
    RefundRequest,
    StripeEvent,
)
from payments.services.reprocess import events_reprocess

pytestmark = pytest.mark.django_db

DAY = 86400
# 00:26 UTC on 2026-05-28 (01:26 in London): an ordering's events stay in its day.
START = 1_780_000_000 - 20 * 3600


def _envelope(event_type, obj, created, k, n):
    return {
        "id": f"evt_{event_type}_{n}_{k}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": created,
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


def _intent(order, pi, charge, created, k, n):
    return _envelope(
        "payment_intent.succeeded",
        {
            "id": pi,
            "object": "payment_intent",
            "amount": order.total_pennies,
            "amount_received": order.total_pennies,
            "currency": "gbp",
            "status": "succeeded",
            "latest_charge": charge,
            "metadata": {"order_id": str(order.pk)},
        },
        created,
        k,
        n,
    )


def _charge(order, pi, charge, created, k, n):
    return _envelope(
        "charge.succeeded",
        {
            "id": charge,
            "object": "charge",
            "amount": order.total_pennies,
            "amount_captured": order.total_pennies,
            "captured": True,
            "currency": "gbp",
            "payment_intent": pi,
            "created": created,
            "status": "succeeded",
            "metadata": {"order_id": str(order.pk)},
        },
        created,
        k,
        n,
    )


def _dispute(event_type, k, t0, *, status, created, amount, moved=()):
    obj = {
        "id": f"dp_{k}",
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_{k}",
        "currency": "gbp",
        "status": status,
        "reason": "fraudulent",
        "created": t0 + 600,
        "balance_transactions": [{"amount": m, "fee": 1500} for m in moved],
    }
    return _envelope(event_type, obj, created, k, status)


def _refund(event_type, k, t0, *, status, created, amount):
    obj = {
        "id": f"re_{k}",
        "object": "refund",
        "amount": amount,
        "charge": f"ch_{k}",
        "payment_intent": f"pi_{k}",
        "currency": "gbp",
        "status": status,
        "created": t0 + 600,
        "reason": "requested_by_customer",
        "metadata": {"refund_request": f"key_{k}"},
    }
    return _envelope(event_type, obj, created, k, status)


def _post(client, event):
    body = json.dumps(event, separators=(",", ":")).encode()
    response = client.post(
        reverse("payments:webhook"),
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": sign(body, timestamp=int(time.time()))},
    )
    assert response.status_code == 200, response.content


def _with_duplicates(events, k):
    """The ordering, with two events delivered again (Stripe's at-least-once)."""
    again = [events[0], events[k % len(events)]]
    return [*events[:2], again[1], *events[2:], again[0]]


def _norm(value, k, shift, number=""):
    if isinstance(value, str):
        return re.sub(rf"_{k}\b", "", value.replace(number or "\0", "ORDER"))
    if isinstance(value, dt.datetime):
        return value - dt.timedelta(seconds=shift)
    if isinstance(value, dt.date):
        return value - dt.timedelta(days=shift // DAY)
    return value


def _books(order_pk, variant_pk, k):
    shift = k * DAY
    order = Order.objects.get(pk=order_pk)

    def norm(rows):
        return sorted(
            tuple(_norm(v, k, shift, order.number) for v in row) for row in rows
        )

    day = business_day(dt.datetime.fromtimestamp(START + shift, tz=dt.UTC))
    snapshots_build(date_from=day, date_to=day, triggered_by="test")
    snapshot = DailySnapshot.objects.filter(day=day).values().get()
    del snapshot["id"], snapshot["day"], snapshot["built_at"]
    events = StripeEvent.objects.filter(event_id__endswith=f"_{k}")
    return {
        "order": norm(
            [
                (
                    order.status,
                    order.refund_status,
                    order.refunded_pennies,
                    order.refunded_at,
                    order.paid_at,
                    order.canceled_at,
                    order.stripe_payment_intent,
                    order.stripe_charge_id,
                    order.payment_processing_since,
                )
            ]
        ),
        "payments": norm(
            Payment.objects.filter(order=order).values_list(
                "stripe_payment_intent",
                "stripe_charge_id",
                "amount_pennies",
                "paid_at",
                "applied",
                "problem",
            )
        ),
        "refunds": norm(
            Refund.objects.filter(payment__order=order).values_list(
                "stripe_refund_id",
                "amount_pennies",
                "status",
                "status_at",
                "stripe_created",
                "restocked_at",
                "idempotency_key",
            )
        ),
        "disputes": norm(
            Dispute.objects.filter(payment__order=order).values_list(
                "stripe_dispute_id",
                "status",
                "status_at",
                "funds_withdrawn_pennies",
                "funds_withdrawn_at",
                "funds_reinstated_pennies",
                "funds_reinstated_at",
            )
        ),
        "cases": norm(
            PaymentException.objects.filter(order=order).values_list(
                "kind", "stripe_ref", "message", "resolved_at", "resolution_note"
            )
        ),
        "stock": Variant.objects.get(pk=variant_pk).stock_on_hand,
        "snapshot": snapshot,
        "events": sorted(set(events.values_list("status", flat=True))),
    }


def _run(client, orderings, scenario):
    """Deliver each ordering (k = 1, 2, …) and return the books of each."""
    books = []
    for k, picks in enumerate(orderings, start=1):
        t0 = START + k * DAY
        variant = VariantFactory(stock=5)
        customer = UserFactory(roles=["customer"])
        order = place_order(customer=customer, variants={variant: 2})
        events = scenario(order, variant, k, t0)
        for event in _with_duplicates([events[i] for i in picks], k):
            _post(client, event)
        events_reprocess(pending=True, actor_label="test")
        books.append(_books(order.pk, variant.pk, k))
    return books


def _dispute_scenario(outcome):
    def scenario(order, variant, k, t0):
        amount = order.total_pennies
        closing = [
            _dispute(
                "charge.dispute.closed",
                k,
                t0,
                status=outcome,
                created=t0 + 1800,
                amount=amount,
                moved=(-amount, amount) if outcome == "won" else (-amount,),
            )
        ]
        if outcome == "won":
            closing.append(
                _dispute(
                    "charge.dispute.funds_reinstated",
                    k,
                    t0,
                    status="won",
                    # Later than the close: the case is dated by the earliest.
                    created=t0 + 1805,
                    amount=amount,
                    moved=(-amount, amount),
                )
            )
        return [
            _intent(order, f"pi_{k}", f"ch_{k}", t0, k, "pi"),
            _dispute(
                "charge.dispute.created",
                k,
                t0,
                status="needs_response",
                created=t0 + 600,
                amount=amount,
            ),
            _dispute(
                "charge.dispute.funds_withdrawn",
                k,
                t0,
                status="needs_response",
                created=t0 + 601,
                amount=amount,
                moved=(-amount,),
            ),
            *closing,
        ]

    return scenario


def _orderings_with_payment(dispute_events: int):
    """Every ordering of the dispute's events, the payment placed at each
    position in turn (so the dispute also arrives before its payment)."""
    for n, rest in enumerate(itertools.permutations(range(1, dispute_events + 1))):
        position = n % (dispute_events + 1)
        yield [*rest[:position], 0, *rest[position:]]


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_a_dispute_ends_in_the_same_books_in_every_order(client, outcome):
    count = 4 if outcome == "won" else 3
    books = _run(
        client, list(_orderings_with_payment(count)), _dispute_scenario(outcome)
    )
    first = books[0]
    assert all(b == first for b in books[1:])
    (case,) = first["cases"]
    kind, ref, _message, resolved_at, note = case
    assert (kind, ref) == ("dispute", "dp")
    assert resolved_at == dt.datetime.fromtimestamp(START + 1800, tz=dt.UTC)
    assert note == (
        "Dispute won: the funds were returned."
        if outcome == "won"
        else "Dispute lost: the funds stay with the card holder."
    )
    assert first["disputes"][0][1] == outcome
    lost = first["snapshot"]["dispute_losses_pennies"]
    assert (lost == 0) if outcome == "won" else (lost > 0)
    assert first["events"] == ["processed"]


def _refund_scenario(order, k, t0):
    total = order.total_pennies
    return [
        _intent(order, f"pi_{k}", f"ch_{k}", t0, k, "pi"),
        _refund(
            "refund.created", k, t0, status="pending", created=t0 + 600, amount=total
        ),
        _refund(
            "refund.updated", k, t0, status="succeeded", created=t0 + 660, amount=total
        ),
        _refund(
            "refund.failed", k, t0, status="failed", created=t0 + 2 * DAY, amount=total
        ),
    ]


def test_a_refund_that_succeeds_then_fails_ends_in_the_same_books_in_every_order(
    client,
):
    orderings = list(itertools.permutations(range(4)))
    books = []
    for k, picks in enumerate(orderings, start=1):
        t0 = START + k * DAY
        variant = VariantFactory(stock=5)
        order = place_order(
            customer=UserFactory(roles=["customer"]), variants={variant: 2}
        )
        events = _refund_scenario(order, k, t0)
        _post(client, events[0])  # the payment, so ops can ask for the refund
        # Ops asked for a full refund with one unit back, and Stripe's answer was
        # lost (a crash after Stripe made it): the events alone complete it.
        RefundRequest.objects.create(
            idempotency_key=f"key_{k}",
            order=order,
            payment=Payment.objects.get(order=order),
            amount_pennies=order.total_pennies,
            currency="GBP",
            restock={str(variant.pk): 1},
            status=RefundRequest.Status.REQUESTED,
        )
        for event in _with_duplicates([events[i] for i in picks], k):
            _post(client, event)
        events_reprocess(pending=True, actor_label="test")
        books.append(_books(order.pk, variant.pk, k))
    first = books[0]
    assert all(b == first for b in books[1:])
    assert first["order"][0][:3] == ("paid", "none", 0)
    assert first["order"][0][5] is None  # never canceled, as far as the books say
    assert first["refunds"][0][2] == "failed"
    assert first["refunds"][0][5] is None  # the restock was taken back
    assert first["stock"] == 3
    assert [c[0] for c in first["cases"]] == ["refund_failed"]
    assert first["snapshot"]["refunds_pennies"] == 0


def _double_payment_scenario(order, variant, k, t0):
    return [
        _intent(order, f"pi_late_{k}", f"ch_late_{k}", t0 + 60, k, "late"),
        _charge(order, f"pi_late_{k}", f"ch_late_{k}", t0 + 60, k, "late"),
        # The earlier payment names no charge (an older API shape): its
        # charge.succeeded fills it in.
        _intent(order, f"pi_early_{k}", None, t0, k, "early"),
        _charge(order, f"pi_early_{k}", f"ch_early_{k}", t0, k, "early"),
    ]


def test_an_order_paid_twice_ends_in_the_same_books_in_every_order(client):
    orderings = list(itertools.permutations(range(4)))
    books = _run(client, orderings, _double_payment_scenario)
    first = books[0]
    assert all(b == first for b in books[1:])
    status, _r, _p, _ra, paid_at, _c, intent, charge, _ = first["order"][0]
    assert (status, intent, charge) == ("paid", "pi_early", "ch_early")
    assert paid_at == dt.datetime.fromtimestamp(START, tz=dt.UTC)
    assert [(c[0], c[1]) for c in first["cases"]] == [("duplicate_payment", "pi_late")]
    assert first["stock"] == 3  # taken once
    assert first["snapshot"]["paid_orders"] == 1
