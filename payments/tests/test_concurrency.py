"""Real concurrency on PostgreSQL: many deliveries at once, the last unit twice."""

import json

import pytest

from accounts.tests.factories import UserFactory
from catalog.models import StockMovement, StockReservation, Variant
from catalog.tests.factories import VariantFactory
from orders.models import Order
from orders.tests.factories import place_order
from payments.gateway import sign
from payments.models import Payment, PaymentException
from payments.tests.events import intent_succeeded
from payments.webhook import receive

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _deliver(event):
    body = json.dumps(event, separators=(",", ":")).encode()
    return receive(body=body, signature=sign(body)).status


def test_sixteen_concurrent_deliveries_make_one_payment_and_one_decrement(
    run_concurrently,
):
    variant = VariantFactory(stock=5)
    order = place_order(customer=UserFactory(roles=["customer"]), variants={variant: 2})
    event = intent_succeeded(order)
    statuses = run_concurrently(16, lambda i: _deliver(event))
    assert statuses == [200] * 16
    assert Payment.objects.count() == 1
    assert StockMovement.objects.filter(reason="sale").count() == 1
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 3
    assert Order.objects.get(pk=order.pk).status == "paid"


def test_two_orders_paid_at_once_for_the_last_unit_one_wins_one_is_raised(
    run_concurrently,
):
    variant = VariantFactory(stock=1)
    customer = UserFactory(roles=["customer"])
    first = place_order(customer=customer, variants={variant: 1})
    # The first hold lapsed, so a second checkout could hold the same unit.
    StockReservation.objects.update(status="expired")
    second = place_order(customer=customer, variants={variant: 1})
    events = [
        intent_succeeded(first, pi="pi_a", charge="ch_a"),
        intent_succeeded(second, pi="pi_b", charge="ch_b"),
    ]
    assert run_concurrently(2, lambda i: _deliver(events[i])) == [200, 200]
    statuses = sorted(Order.objects.values_list("status", flat=True))
    assert statuses == ["paid", "pending"]
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 0
    assert PaymentException.objects.get().kind == "oversell"
    assert Payment.objects.count() == 2
