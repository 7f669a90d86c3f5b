import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from catalog.models import StockMovement, StockReservation, Variant
from catalog.tests.factories import ProductFactory, VariantFactory
from orders.models import Order
from orders.services.lifecycle import By, order_transition
from orders.tests.factories import place_order
from payments.models import Payment, PaymentException, StripeEvent
from payments.tests.events import BASE, charge_succeeded, intent_succeeded, post

pytestmark = pytest.mark.django_db


def _order(customer, stock=5, quantity=2, **product):
    variant = VariantFactory(stock=stock, product=ProductFactory(**product))
    return place_order(customer=customer, variants={variant: quantity}), variant


def _stock(variant):
    return Variant.objects.get(pk=variant.pk).stock_on_hand


def test_a_matching_payment_marks_the_order_paid_and_takes_stock_once(client, customer):
    order, variant = _order(customer)
    assert post(client, intent_succeeded(order)).status_code == 200
    order.refresh_from_db()
    assert order.status == "paid"
    assert order.paid_at == dt.datetime.fromtimestamp(BASE, tz=dt.UTC)
    assert (order.stripe_payment_intent, order.stripe_charge_id) == ("pi_1", "ch_1")
    payment = Payment.objects.get()
    assert (payment.amount_pennies, payment.currency, payment.applied) == (
        order.total_pennies,
        "GBP",
        True,
    )
    assert payment.customer == customer and payment.source == "order"
    assert _stock(variant) == 3
    assert StockReservation.objects.get(holder=order.holder).status == "consumed"
    # The charge event and replays change nothing more.
    post(client, charge_succeeded(order))
    post(client, intent_succeeded(order))
    assert Payment.objects.count() == 1
    assert StockMovement.objects.filter(reason="sale").count() == 1
    assert _stock(variant) == 3


def test_paid_at_is_stripe_time_not_arrival_time(client, customer):
    order, _ = _order(customer)
    stripe_time = BASE - 86_400 * 3
    post(client, intent_succeeded(order, created=stripe_time))
    order.refresh_from_db()
    assert order.paid_at == dt.datetime.fromtimestamp(stripe_time, tz=dt.UTC)


def test_a_charge_before_its_payment_intent_waits_then_applies(client, customer):
    order, _ = _order(customer)
    post(client, charge_succeeded(order, pi="pi_9", charge="ch_9"))
    waiting = StripeEvent.objects.get(type="charge.succeeded")
    assert (waiting.status, waiting.awaiting) == ("pending", "pi_9")
    post(client, intent_succeeded(order, pi="pi_9", charge=""))
    waiting.refresh_from_db()
    assert waiting.status == "processed"
    assert Payment.objects.get().stripe_charge_id == "ch_9"


def test_preorder_lines_are_paid_without_stock(client, customer):
    order, variant = _order(customer, stock=0, is_preorder=True)
    post(client, intent_succeeded(order))
    order.refresh_from_db()
    assert order.status == "paid"
    assert _stock(variant) == 0
    assert not StockMovement.objects.filter(reason="sale").exists()


@pytest.mark.parametrize(
    ("change", "kind"),
    [({"amount": 1}, "amount_mismatch"), ({"currency": "usd"}, "currency_mismatch")],
)
def test_a_payment_that_differs_from_the_order_is_recorded_not_applied(
    client, customer, change, kind
):
    order, variant = _order(customer)
    post(client, intent_succeeded(order, **change))
    order.refresh_from_db()
    assert order.status == "pending"
    payment = Payment.objects.get()
    assert (payment.applied, payment.problem) == (False, kind)
    case = PaymentException.objects.get()
    assert (case.kind, case.order, case.stripe_ref) == (kind, order, "pi_1")
    assert _stock(variant) == 5


def test_an_oversold_payment_is_raised_for_ops_and_the_order_stays_unpaid(
    client, customer
):
    order, variant = _order(customer, stock=2, quantity=2)
    StockReservation.objects.filter(holder=order.holder).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    other = place_order(customer=customer, variants={variant: 1})
    post(client, intent_succeeded(other, pi="pi_other", charge="ch_other"))
    assert _stock(variant) == 1  # the other sale took a unit
    post(client, intent_succeeded(order, pi="pi_late", charge="ch_late"))
    order.refresh_from_db()
    assert order.status == "pending"
    assert PaymentException.objects.get().kind == "oversell"
    assert "short by 1" in PaymentException.objects.get().message
    assert Payment.objects.get(stripe_payment_intent="pi_late").problem == "oversell"
    assert _stock(variant) == 1


def test_a_second_payment_for_a_paid_order_is_a_duplicate_case(client, customer):
    order, _ = _order(customer)
    post(client, intent_succeeded(order))
    post(client, intent_succeeded(order, pi="pi_2", charge="ch_2"))
    assert PaymentException.objects.get().kind == "duplicate_payment"
    assert Payment.objects.filter(applied=True).count() == 1


def test_a_payment_after_cancellation_is_raised(client, customer):
    order, _ = _order(customer)
    order_transition(order=order, to="canceled", by=By.CUSTOMER)
    post(client, intent_succeeded(order))
    assert PaymentException.objects.get().kind == "paid_after_cancel"


def test_a_payment_without_an_order_of_ours_still_counts(client, customer):
    from payments.tests.events import envelope

    event = envelope(
        "payment_intent.succeeded",
        {
            "id": "pi_link",
            "object": "payment_intent",
            "amount": 2500,
            "amount_received": 2500,
            "currency": "gbp",
            "latest_charge": "ch_link",
            "metadata": {},
            "receipt_email": customer.email.upper(),
        },
    )
    post(client, event)
    payment = Payment.objects.get()
    assert (payment.order, payment.source, payment.customer) == (
        None,
        "other",
        customer,
    )


# --- the offline gateway through the customer's pages -----------------------------


def _start(client, order):
    response = client.post(reverse("payments:pay", args=[order.number]))
    assert response.status_code == 302
    order.refresh_from_db()
    assert response["Location"] == reverse(
        "payments:offline_checkout", args=[order.stripe_checkout_session_id]
    )
    return order.stripe_checkout_session_id


def _offline(client, session, action, capture):
    """Press a button on the offline checkout page; Stripe's events arrive on commit."""
    with capture(execute=True):
        client.post(
            reverse("payments:offline_checkout", args=[session]), {"action": action}
        )


def test_offline_pay_marks_the_order_paid_through_the_webhook(
    client, customer, django_capture_on_commit_callbacks
):
    order, variant = _order(customer)
    client.force_login(customer)
    session = _start(client, order)
    _offline(client, session, "pay", django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == "paid"
    assert set(StripeEvent.objects.values_list("type", flat=True)) == {
        "checkout.session.completed",
        "payment_intent.succeeded",
        "charge.succeeded",
    }
    assert not StripeEvent.objects.exclude(status="processed").exists()
    assert _stock(variant) == 3
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Paid" in page and f"Paid £{order.total_pennies / 100:.2f}" in page


def test_a_declined_card_leaves_the_order_pending_and_retry_pays(
    client, customer, django_capture_on_commit_callbacks
):
    order, _ = _order(customer)
    client.force_login(customer)
    session = _start(client, order)
    _offline(client, session, "decline", django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == "pending"
    assert AuditLog.objects.filter(event_type="payment.failed").exists()
    retry = _start(client, order)
    assert retry != session
    _offline(client, retry, "pay", django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == "paid"


def test_a_canceled_checkout_releases_the_reservation(
    client, customer, django_capture_on_commit_callbacks
):
    order, _ = _order(customer)
    client.force_login(customer)
    session = _start(client, order)
    _offline(client, session, "cancel", django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == "canceled"
    assert StockReservation.objects.get(holder=order.holder).status == "released"


def test_an_older_session_expiring_does_not_cancel_the_order(client, customer):
    from payments.tests.events import envelope

    order, _ = _order(customer)
    client.force_login(customer)
    old = _start(client, order)
    _start(client, order)
    post(
        client,
        envelope("checkout.session.expired", {"id": old, "object": "checkout.session"}),
    )
    order.refresh_from_db()
    assert order.status == "pending"


def test_another_customer_cannot_open_or_pay_my_checkout(client, customer):
    from accounts.tests.factories import UserFactory

    order, _ = _order(customer)
    client.force_login(customer)
    session = _start(client, order)
    client.force_login(UserFactory(roles=["customer"]))
    assert (
        client.get(reverse("payments:offline_checkout", args=[session])).status_code
        == 404
    )
    assert client.post(reverse("payments:pay", args=[order.number])).status_code == 404
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_money_in_hand_wins_over_another_checkouts_live_hold(client, customer):
    """The first order's hold lapsed and a second checkout holds the last unit; the
    first order's payment still takes it (docs/decisions.md), and the second is
    raised for ops when it pays."""
    first, variant = _order(customer, stock=1, quantity=1)
    StockReservation.objects.filter(holder=first.holder).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    second = place_order(customer=customer, variants={variant: 1})
    assert StockReservation.objects.get(holder=second.holder).status == "active"
    post(client, intent_succeeded(first, pi="pi_first", charge="ch_first"))
    first.refresh_from_db()
    assert first.status == "paid" and _stock(variant) == 0
    post(client, intent_succeeded(second, pi="pi_second", charge="ch_second"))
    second.refresh_from_db()
    assert second.status == "pending"
    assert PaymentException.objects.get().kind == "oversell"
