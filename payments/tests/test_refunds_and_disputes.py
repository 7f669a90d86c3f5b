import datetime as dt
import re
import secrets

import pytest
from django.urls import reverse

from audit.models import AuditLog
from catalog.models import StockMovement, Variant
from catalog.tests.factories import VariantFactory
from core.exceptions import DomainError
from orders.tests.factories import place_order
from payments.models import Dispute, PaymentException, Refund, StripeEvent
from payments.services.refunds import refund_issue, refundable_pennies
from payments.tests.events import (
    BASE,
    dispute_event,
    envelope,
    intent_succeeded,
    post,
    refund_event,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(client, customer):
    variant = VariantFactory(stock=10)
    order = place_order(customer=customer, variants={variant: 2})  # 3000 + 395
    post(client, intent_succeeded(order))
    order.refresh_from_db()
    assert order.status == "paid"
    return order, variant


def _refund(order, actor, amount, key, restock=None):
    """An ops refund with no reason, as the form would ask for it."""
    return refund_issue(
        order=order,
        amount_pennies=amount,
        reason="",
        restock=restock or {},
        actor=actor,
        idempotency_key=key,
    )


def _stock(variant):
    return Variant.objects.get(pk=variant.pk).stock_on_hand


def test_partial_then_full_refunds_move_the_order_as_the_policy_says(client, paid):
    order, _ = paid
    post(client, refund_event("re_1", 1000))
    order.refresh_from_db()
    assert (order.status, order.refund_status, order.refunded_pennies) == (
        "paid",
        "partial",
        1000,
    )
    assert order.refunded_at == dt.datetime.fromtimestamp(BASE + 3600, tz=dt.UTC)
    post(client, refund_event("re_2", order.total_pennies - 1000, created=BASE + 7200))
    order.refresh_from_db()
    assert (order.status, order.refund_status) == ("canceled", "full")
    assert order.refunded_pennies == order.total_pennies
    assert order.refunded_at == dt.datetime.fromtimestamp(BASE + 7200, tz=dt.UTC)


def test_a_fulfilled_order_fully_refunded_stays_fulfilled(client, paid):
    from orders.services.lifecycle import order_fulfil

    order, _ = paid
    order_fulfil(order=order, actor=None)
    post(client, refund_event("re_1", order.total_pennies))
    order.refresh_from_db()
    assert (order.status, order.refund_status) == ("fulfilled", "full")


def test_every_refund_on_a_charge_is_recorded_not_only_the_newest(client, paid):
    order, _ = paid
    charge = {
        "id": "ch_1",
        "object": "charge",
        "amount": order.total_pennies,
        "amount_refunded": 1500,
        "currency": "gbp",
        "payment_intent": "pi_1",
        "refunds": {
            "object": "list",
            "data": [
                {
                    "id": "re_a",
                    "amount": 500,
                    "status": "succeeded",
                    "created": BASE + 10,
                    "charge": "ch_1",
                    "currency": "gbp",
                },
                {
                    "id": "re_b",
                    "amount": 1000,
                    "status": "succeeded",
                    "created": BASE + 20,
                    "charge": "ch_1",
                    "currency": "gbp",
                },
            ],
        },
    }
    post(client, envelope("charge.refunded", charge, created=BASE + 30))
    assert set(Refund.objects.values_list("stripe_refund_id", "amount_pennies")) == {
        ("re_a", 500),
        ("re_b", 1000),
    }
    order.refresh_from_db()
    assert order.refunded_pennies == 1500


def test_a_refund_before_its_payment_waits_then_applies(client, customer):
    variant = VariantFactory(stock=10)
    order = place_order(customer=customer, variants={variant: 1})
    post(client, refund_event("re_early", 500, charge="ch_7", pi="pi_7"))
    waiting = StripeEvent.objects.get(type="refund.created")
    assert waiting.status == "pending"
    assert not Refund.objects.exists()
    post(client, intent_succeeded(order, pi="pi_7", charge="ch_7"))
    waiting.refresh_from_db()
    assert waiting.status == "processed"
    order.refresh_from_db()
    assert (order.refund_status, order.refunded_pennies) == ("partial", 500)


def test_older_news_never_overwrites_a_newer_refund_status(client, paid):
    post(
        client, refund_event("re_1", 700, status="succeeded", event_created=BASE + 500)
    )
    post(
        client,
        refund_event(
            "re_1",
            700,
            status="pending",
            event_created=BASE + 100,
            event_type="refund.updated",
        ),
    )
    assert Refund.objects.get().status == "succeeded"


def test_a_failed_refund_is_raised_for_ops_and_does_not_count(client, paid):
    order, _ = paid
    post(client, refund_event("re_f", 900, status="failed", event_type="refund.failed"))
    case = PaymentException.objects.get()
    assert (case.kind, case.stripe_ref, case.order) == ("refund_failed", "re_f", order)
    order.refresh_from_db()
    assert order.refund_status == "none"


def test_ops_refund_is_pending_until_stripe_confirms_and_restocks_once(
    paid, ops_user, django_capture_on_commit_callbacks
):
    order, variant = paid
    key = secrets.token_urlsafe(12)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        refund = refund_issue(
            order=order,
            amount_pennies=1500,
            reason="requested_by_customer",
            restock={variant.pk: 1},
            actor=ops_user,
            idempotency_key=key,
        )
    assert refund.status == "pending"
    order.refresh_from_db()
    assert order.refund_status == "none"
    assert _stock(variant) == 8
    for callback in callbacks:  # Stripe's confirmation arrives
        callback()
    refund.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == "succeeded" and refund.restocked_at is not None
    assert (order.refund_status, order.refunded_pennies) == ("partial", 1500)
    assert _stock(variant) == 9
    # Replaying Stripe's events restocks nothing more.
    from payments.services.reprocess import events_reprocess

    for event in StripeEvent.objects.filter(type="refund.created"):
        StripeEvent.objects.filter(pk=event.pk).update(status="failed")
    events_reprocess(failed=True, actor=ops_user)
    assert _stock(variant) == 9
    assert StockMovement.objects.filter(reason="refund_restock").count() == 1
    row = AuditLog.objects.get(event_type="refund.requested")
    assert (row.actor, row.metadata["amount_pennies"]) == (ops_user, 1500)


def test_a_double_click_makes_one_refund(
    paid, ops_user, django_capture_on_commit_callbacks
):
    order, _ = paid
    with django_capture_on_commit_callbacks(execute=True):
        first = _refund(order, ops_user, 500, "same-click")
    with django_capture_on_commit_callbacks(execute=True):
        second = _refund(order, ops_user, 500, "same-click")
    assert first.pk == second.pk
    assert Refund.objects.count() == 1


@pytest.mark.parametrize(
    ("amount", "restock", "message"),
    [
        (0, 0, "above zero"),
        (999_999, 0, "At most £33.95"),
        (100, 3, "more units than the order bought"),
    ],
)
def test_refund_issue_refuses_what_the_policy_forbids(
    paid, ops_user, amount, restock, message
):
    order, variant = paid
    restock = {variant.pk: restock} if restock else {}
    with pytest.raises(DomainError, match=re.escape(message)):
        _refund(order, ops_user, amount, secrets.token_hex(6), restock=restock)
    assert not Refund.objects.exists()


def test_pending_refunds_reduce_what_is_refundable(paid, ops_user):
    order, _ = paid
    _refund(order, ops_user, 3000, "k1")
    assert refundable_pennies(order) == 395
    with pytest.raises(DomainError, match=r"At most £3\.95"):
        _refund(order, ops_user, 400, "k2")


def test_an_unpaid_order_cannot_be_refunded(customer, ops_user):
    order = place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    with pytest.raises(DomainError, match="no payment"):
        _refund(order, ops_user, 100, "k")


def test_the_ops_refund_form_refunds_and_shows_it(
    client, paid, ops_user, django_capture_on_commit_callbacks
):
    order, variant = paid
    client.force_login(ops_user)
    fields = {
        "idempotency_key": "form-1",
        "amount": "12.50",
        "reason": "duplicate",
        f"restock_{variant.pk}": "1",
    }
    url = reverse("payments_ops:refund", args=[order.number])
    asked = client.post(url, fields).content.decode()
    assert f"Refund £12.50 of order {order.number} to the card" in asked
    assert f"Restock 1 × {variant.sku}." in asked
    assert 'name="confirmed" value="1"' in asked
    assert not Refund.objects.exists()  # nothing before the confirmation
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, fields | {"confirmed": "1"}, follow=True)
    assert "Refund re_" in response.content.decode()
    page = client.get(reverse("ops:order_detail", args=[order.number])).content.decode()
    assert ">succeeded<" in page
    order.refresh_from_db()
    assert order.refunded_pennies == 1250
    bad = client.post(
        reverse("payments_ops:refund", args=[order.number]),
        {"idempotency_key": "form-2", "amount": "lots"},
        follow=True,
    )
    assert "Enter an amount such as 12.50." in bad.content.decode()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("78.001", "no more than two decimal places"),
        ("1e309", "Enter an amount such as 12.50."),
        ("-1e309", "Enter an amount such as 12.50."),
        ("Infinity", "Enter an amount such as 12.50."),
    ],
)
def test_an_amount_not_to_the_penny_is_refused_never_rounded(
    client, paid, ops_user, amount, message
):
    order, _ = paid
    client.force_login(ops_user)
    response = client.post(
        reverse("payments_ops:refund", args=[order.number]),
        {"idempotency_key": f"form-{amount}", "amount": amount},
        follow=True,
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    order.refresh_from_db()
    assert order.refunded_pennies == 0 and not Refund.objects.exists()


def test_disputes_are_recorded_raised_and_their_funds_dated(client, paid):
    order, _ = paid
    post(client, dispute_event("dp_1", 3395))
    dispute = Dispute.objects.get()
    assert (dispute.status, dispute.payment.order, dispute.amount_pennies) == (
        "needs_response",
        order,
        3395,
    )
    assert PaymentException.objects.get().kind == "dispute"
    post(
        client,
        dispute_event(
            "dp_1",
            3395,
            event_type="charge.dispute.funds_withdrawn",
            created=BASE + 8000,
            withdrawn=3395,
        ),
    )
    post(
        client,
        dispute_event(
            "dp_1",
            3395,
            event_type="charge.dispute.funds_reinstated",
            created=BASE + 9000,
            status="won",
        ),
    )
    post(
        client,
        dispute_event(
            "dp_1",
            3395,
            event_type="charge.dispute.closed",
            created=BASE + 9000,
            status="won",
        ),
    )
    dispute.refresh_from_db()
    assert dispute.funds_withdrawn_pennies == 3395
    assert dispute.funds_withdrawn_at == dt.datetime.fromtimestamp(
        BASE + 8000, tz=dt.UTC
    )
    assert dispute.funds_reinstated_pennies == 3395
    assert dispute.funds_reinstated_at == dt.datetime.fromtimestamp(
        BASE + 9000, tz=dt.UTC
    )
    assert dispute.status == "won" and not dispute.is_open


def test_resolving_a_case_is_audited(client, paid, ops_user):
    post(client, dispute_event("dp_1", 100))
    case = PaymentException.objects.get()
    client.force_login(ops_user)
    client.post(
        reverse("payments_ops:exception_resolve", args=[case.pk]), {"note": "won"}
    )
    case.refresh_from_db()
    assert case.resolved_by == ops_user and case.resolution_note == "won"
    assert AuditLog.objects.filter(event_type="payment_exception.resolved").exists()


def test_a_refund_counts_at_its_own_created_time_not_when_we_heard_of_it(client, paid):
    order, _ = paid
    post(
        client,
        refund_event("re_late", 500, created=BASE + 600, event_created=BASE + 86_400),
    )
    order.refresh_from_db()
    assert order.refunded_at == dt.datetime.fromtimestamp(BASE + 600, tz=dt.UTC)
    refund = Refund.objects.get(stripe_refund_id="re_late")
    assert refund.stripe_created == order.refunded_at
