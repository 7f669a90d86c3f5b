"""Delayed payment methods (bank debits), expired checkouts, and what the customer
and ops see of them."""

import datetime as dt

import pytest
from django.urls import reverse

from audit.models import AuditLog
from catalog.models import StockReservation
from catalog.tests.factories import VariantFactory
from orders.models import Order
from orders.tests.factories import place_order
from payments.models import Payment, RefundRequest
from payments.tests.events import BASE, envelope, intent_succeeded, post

pytestmark = pytest.mark.django_db


def _order(customer, stock=5):
    variant = VariantFactory(stock=stock)
    return place_order(customer=customer, variants={variant: 2})


def _intent_event(order, event_type, *, created, pi="pi_1", **extra):
    return envelope(
        event_type,
        {
            "id": pi,
            "object": "payment_intent",
            "amount": order.total_pennies,
            "currency": "gbp",
            "status": event_type.split(".")[1],
            "metadata": {"order_id": str(order.pk)},
            **extra,
        },
        created=created,
    )


def _session_event(order, event_type, *, created, session="cs_1", pi="pi_1"):
    return envelope(
        event_type,
        {
            "id": session,
            "object": "checkout.session",
            "mode": "payment",
            "payment_intent": pi,
            "metadata": {"order_id": str(order.pk)},
        },
        created=created,
    )


def _since(order):
    return Order.objects.get(pk=order.pk).payment_processing_since


def test_a_processing_payment_shows_until_it_succeeds(client, customer):
    order = _order(customer)
    post(client, _intent_event(order, "payment_intent.processing", created=BASE))
    assert _since(order) == dt.datetime.fromtimestamp(BASE, tz=dt.UTC)
    client.force_login(customer)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Payment processing" in page
    assert "Pay £" not in page  # no second payment while one is on its way
    post(client, intent_succeeded(order, created=BASE + 3 * 86400))
    order.refresh_from_db()
    assert (order.status, order.payment_processing_since) == ("paid", None)


def test_processing_after_success_changes_nothing(client, customer):
    order = _order(customer)
    post(client, intent_succeeded(order, created=BASE + 60))
    post(client, _intent_event(order, "payment_intent.processing", created=BASE))
    assert _since(order) is None


@pytest.mark.parametrize("failure_first", [False, True])
def test_a_failed_bank_payment_ends_processing_whichever_arrives_first(
    client, customer, failure_first
):
    order = _order(customer)
    events = [
        _intent_event(order, "payment_intent.processing", created=BASE),
        _intent_event(
            order,
            "payment_intent.payment_failed",
            created=BASE + 86400,
            last_payment_error={"code": "debit_not_authorized", "message": "No."},
        ),
    ]
    for event in reversed(events) if failure_first else events:
        post(client, event)
    assert _since(order) is None
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_an_async_payment_failure_releases_the_hold_and_tells_the_customer(
    client, customer
):
    order = _order(customer)
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_1")
    post(client, _intent_event(order, "payment_intent.processing", created=BASE))
    post(
        client,
        _session_event(
            order, "checkout.session.async_payment_failed", created=BASE + 86400
        ),
    )
    order.refresh_from_db()
    assert order.status == "pending" and order.payment_processing_since is None
    assert set(
        StockReservation.objects.filter(holder=order.holder).values_list(
            "status", flat=True
        )
    ) == {"released"}
    row = AuditLog.objects.get(event_type="payment.failed", target_id=str(order.pk))
    assert row.metadata["code"] == "async_payment_failed"
    assert row.metadata["released_holds"] == 1
    client.force_login(customer)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Your last payment did not go through" in page
    assert "The bank payment did not go through." in page
    assert "Pay £" in page  # paying again reserves anew


def test_an_async_failure_of_a_paid_order_changes_nothing(client, customer):
    order = _order(customer)
    post(client, intent_succeeded(order))
    post(
        client,
        _session_event(order, "checkout.session.async_payment_failed", created=BASE),
    )
    order.refresh_from_db()
    assert order.status == "paid"
    assert not AuditLog.objects.filter(event_type="payment.failed").exists()


def test_an_async_success_links_the_payment_intent(client, customer):
    order = _order(customer)
    post(
        client,
        _session_event(
            order, "checkout.session.async_payment_succeeded", created=BASE, pi="pi_9"
        ),
    )
    assert Order.objects.get(pk=order.pk).stripe_payment_intent == "pi_9"


def test_an_expired_checkout_never_cancels_an_order_a_payment_reached(client, customer):
    order = _order(customer)
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_1")
    # A payment that does not match (its amount) still means the money came.
    post(client, intent_succeeded(order, amount=order.total_pennies - 1))
    post(client, _session_event(order, "checkout.session.expired", created=BASE + 1))
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Payment.objects.get().problem == "amount_mismatch"


def test_an_expired_checkout_cancels_only_the_current_session(client, customer):
    order = _order(customer)
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_2")
    post(client, _session_event(order, "checkout.session.expired", created=BASE))
    assert Order.objects.get(pk=order.pk).status == "pending"
    post(
        client,
        _session_event(order, "checkout.session.expired", created=BASE, session="cs_2"),
    )
    assert Order.objects.get(pk=order.pk).status == "canceled"


def test_a_later_earlier_payment_takes_over_the_order_and_is_audited(client, customer):
    order = _order(customer)
    post(client, intent_succeeded(order, pi="pi_late", charge="ch_late", created=BASE))
    post(
        client,
        intent_succeeded(order, pi="pi_early", charge="ch_early", created=BASE - 60),
    )
    order.refresh_from_db()
    assert (order.stripe_payment_intent, order.stripe_charge_id) == (
        "pi_early",
        "ch_early",
    )
    assert order.paid_at == dt.datetime.fromtimestamp(BASE - 60, tz=dt.UTC)
    row = AuditLog.objects.get(event_type="order.payment_changed")
    assert row.metadata["from_stripe_payment_intent"] == "pi_late"
    assert row.metadata["stripe_payment_intent"] == "pi_early"
    applied = dict(Payment.objects.values_list("stripe_payment_intent", "applied"))
    assert applied == {"pi_early": True, "pi_late": False}


def test_ops_see_a_refund_request_stripe_has_not_answered(client, customer, ops_user):
    order = _order(customer)
    post(client, intent_succeeded(order))
    RefundRequest.objects.create(
        idempotency_key="k1",
        order=order,
        payment=Payment.objects.get(),
        amount_pennies=500,
        currency="GBP",
        last_error="APIConnectionError: timed out",
    )
    client.force_login(ops_user)
    page = client.get(reverse("ops:order_detail", args=[order.number]))
    text = page.content.decode()
    assert "Refunds asked, waiting for Stripe" in text
    assert "APIConnectionError: timed out" in text
    assert "Refund (up to £" in text
    assert f"£{(order.total_pennies - 500) / 100:,.2f}" in text


def test_paying_again_is_refused_while_a_bank_payment_processes(client, customer):
    from core.exceptions import DomainError
    from payments.services.checkout import checkout_start

    order = _order(customer)
    post(client, _intent_event(order, "payment_intent.processing", created=BASE))
    with pytest.raises(DomainError, match=r"bank payment for order .* is processing"):
        checkout_start(order=order, success_url="/", cancel_url="/")


def test_a_late_async_failure_of_an_older_attempt_leaves_the_current_one(
    client, customer
):
    order = _order(customer)
    post(client, _intent_event(order, "payment_intent.processing", created=BASE))
    post(
        client, _intent_event(order, "payment_intent.payment_failed", created=BASE + 9)
    )
    # The customer paid again by bank: a new page, a new PaymentIntent processing.
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_2")
    post(
        client,
        _intent_event(order, "payment_intent.processing", created=BASE + 20, pi="pi_2"),
    )
    # The first page's async failure (dated before the second attempt) comes last.
    post(
        client,
        _session_event(
            order, "checkout.session.async_payment_failed", created=BASE + 9
        ),
    )
    assert _since(order) == dt.datetime.fromtimestamp(BASE + 20, tz=dt.UTC)
    assert StockReservation.objects.filter(
        holder=order.holder, status="active"
    ).exists()
    assert not AuditLog.objects.filter(
        event_type="payment.failed", metadata__code="async_payment_failed"
    ).exists()


@pytest.mark.parametrize("expiry_first", [False, True])
def test_a_payment_made_before_the_checkout_expired_pays_the_order_either_way(
    client, customer, expiry_first
):
    order = _order(customer)
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_2")
    paid = intent_succeeded(order, pi="pi_1", charge="ch_1", created=BASE)
    expired = _session_event(
        order, "checkout.session.expired", created=BASE + 86400, session="cs_2"
    )
    for event in [expired, paid] if expiry_first else [paid, expired]:
        post(client, event)
    order.refresh_from_db()
    assert (order.status, order.canceled_at) == ("paid", None)
    assert order.paid_at == dt.datetime.fromtimestamp(BASE, tz=dt.UTC)
    assert Payment.objects.get().applied
    assert not order.exceptions.exists()
    assert order.lines.get().variant.stock_on_hand == 3


def test_a_payment_after_the_checkout_expired_is_paid_after_cancel(client, customer):
    order = _order(customer)
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_2")
    post(
        client,
        _session_event(order, "checkout.session.expired", created=BASE, session="cs_2"),
    )
    post(client, intent_succeeded(order, pi="pi_1", charge="ch_1", created=BASE + 60))
    order.refresh_from_db()
    assert order.status == "canceled"
    assert order.canceled_at == dt.datetime.fromtimestamp(BASE, tz=dt.UTC)
    assert [c.kind for c in order.exceptions.all()] == ["paid_after_cancel"]
