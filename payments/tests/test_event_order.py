"""Stripe delivers at least once, in any order: every permutation of an order's
events, with repeats, ends in the same ledger and order state."""

import json

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from catalog.models import Variant
from catalog.tests.factories import VariantFactory
from orders.models import Order
from orders.tests.factories import place_order
from payments.gateway import sign
from payments.models import Dispute, Payment, PaymentException, Refund
from payments.tests.events import (
    BASE,
    charge_succeeded,
    dispute_event,
    intent_succeeded,
    refund_event,
)
from payments.webhook import receive

pytestmark = pytest.mark.django_db


def _sequence(order):
    """payment, charge, two partial refunds, a refund update, a dispute."""
    return [
        intent_succeeded(order, created=BASE),
        charge_succeeded(order, created=BASE + 1),
        refund_event("re_1", 500, status="pending", created=BASE + 100),
        refund_event("re_2", 700, created=BASE + 200),
        refund_event(
            "re_1",
            500,
            status="succeeded",
            created=BASE + 100,
            event_created=BASE + 300,
            event_type="charge.refund.updated",
        ),
        dispute_event("dp_1", 1000, created=BASE + 400),
    ]


def _deliver(event):
    body = json.dumps(event, separators=(",", ":")).encode()
    result = receive(body=body, signature=sign(body))
    assert result.status == 200, result.message


def _state(order_pk, variant_pk):
    order = Order.objects.get(pk=order_pk)
    return {
        "order": (
            order.status,
            order.refund_status,
            order.refunded_pennies,
            order.refunded_at,
            order.paid_at,
            order.stripe_payment_intent,
            order.stripe_charge_id,
        ),
        "stock": Variant.objects.get(pk=variant_pk).stock_on_hand,
        "payments": sorted(
            Payment.objects.values_list(
                "stripe_payment_intent",
                "stripe_charge_id",
                "amount_pennies",
                "paid_at",
                "applied",
            )
        ),
        "refunds": sorted(
            Refund.objects.values_list(
                "stripe_refund_id", "amount_pennies", "status", "stripe_created"
            )
        ),
        "disputes": sorted(Dispute.objects.values_list("stripe_dispute_id", "status")),
        "cases": sorted(PaymentException.objects.values_list("kind", "stripe_ref")),
    }


def _run(indices):
    """Deliver events by index into a fresh order's sequence; return the end state.
    Rolled back, so each run starts clean."""
    with transaction.atomic():
        variant = VariantFactory(stock=10)
        order = place_order(
            customer=UserFactory(roles=["customer"]), variants={variant: 2}
        )
        events = _sequence(order)
        for i in indices:
            _deliver(events[i])
        state = _state(order.pk, variant.pk)
        transaction.set_rollback(True)
    return state


def test_the_in_order_sequence_gives_the_expected_books():
    state = _run(range(6))
    status, refund_status, refunded, *_ = state["order"]
    assert (status, refund_status, refunded) == ("paid", "partial", 1200)
    assert state["stock"] == 8
    assert [r[2] for r in state["refunds"]] == ["succeeded", "succeeded"]
    assert state["cases"] == [("dispute", "dp_1")]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(range(6)),
    repeats=st.lists(st.integers(min_value=0, max_value=5), max_size=6),
    positions=st.lists(st.integers(min_value=0, max_value=11), max_size=6),
)
def test_any_permutation_with_duplicates_ends_in_the_same_state(
    order, repeats, positions
):
    delivered = list(order)
    for event, position in zip(repeats, positions, strict=False):
        delivered.insert(min(position, len(delivered)), event)
    assert _run(delivered) == _run(range(6))
