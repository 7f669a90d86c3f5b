"""The payment ledger's rules, down to the rows it writes: payments, refunds and
disputes as Stripe's events deliver them, the order fields that follow, the ops
cases and the audit rows' contents (tests that kill the mutants of
payments/services/ledger/, docs/testing.md)."""

import datetime as dt

import pytest

from audit.models import AuditLog
from catalog.tests.factories import VariantFactory
from core.money import format_money
from orders.tests.factories import place_order
from payments.models import Payment, PaymentException, Refund
from payments.tests.events import (
    BASE,
    charge_succeeded,
    intent_succeeded,
    post,
    refund_event,
)

pytestmark = pytest.mark.django_db


def _at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _order(customer, stock=5, quantity=2):
    variant = VariantFactory(stock=stock)
    return place_order(customer=customer, variants={variant: quantity})


@pytest.fixture
def paid(client, customer):
    order = _order(customer)
    post(client, intent_succeeded(order))
    order.refresh_from_db()
    assert order.status == "paid"
    return order


def _audit(event_type):
    return AuditLog.objects.get(event_type=event_type)


# --- payments -----------------------------------------------------------------------


def test_an_overpaid_order_is_not_marked_paid(client, customer):
    order = _order(customer)
    post(client, intent_succeeded(order, amount=order.total_pennies + 1))
    order.refresh_from_db()
    assert order.status == "pending"
    payment = Payment.objects.get()
    assert (payment.applied, payment.problem) == (False, "amount_mismatch")
    case = PaymentException.objects.get()
    assert (case.kind, case.order, case.payment) == ("amount_mismatch", order, payment)
    assert case.message == (
        f"Paid {format_money(order.total_pennies + 1, 'GBP')} but order "
        f"{order.number} totals {format_money(order.total_pennies)}."
    )


def test_a_payment_in_another_currency_is_a_case_that_says_so(client, customer):
    order = _order(customer)
    post(client, intent_succeeded(order, currency="eur"))
    case = PaymentException.objects.get()
    assert (case.kind, case.stripe_ref) == ("currency_mismatch", "pi_1")
    assert case.message == (
        f"Paid in EUR; order {order.number} is in {order.currency}."
    )
    assert Payment.objects.get().problem == "currency_mismatch"


def test_an_applied_payment_delivered_again_raises_no_duplicate_case(client, paid):
    post(client, intent_succeeded(paid))  # the same PaymentIntent, a new event
    post(client, charge_succeeded(paid))
    assert not PaymentException.objects.exists()
    payment = Payment.objects.get()
    assert (payment.applied, payment.problem) == (True, "")


def test_a_payment_is_recorded_with_an_audit_row_naming_it(client, paid):
    row = _audit("payment.recorded")
    assert (row.actor, row.actor_label) == (None, "stripe")
    assert (row.target_type, row.target_id) == ("orders.order", str(paid.pk))
    assert row.metadata == {
        "payment": "pi_1",
        "amount_pennies": paid.total_pennies,
        "currency": "GBP",
    }


def test_a_second_payment_is_a_case_audited_with_its_message(client, paid):
    post(client, intent_succeeded(paid, pi="pi_2", charge="ch_2", created=BASE + 60))
    case = PaymentException.objects.get()
    message = f"Order {paid.number} is paid by pi_1: refund this second payment."
    assert (case.kind, case.stripe_ref, case.message) == (
        "duplicate_payment",
        "pi_2",
        message,
    )
    assert case.payment == Payment.objects.get(stripe_payment_intent="pi_2")
    row = _audit("payment_exception.duplicate_payment")
    assert (row.actor_label, row.target_id) == ("stripe", str(paid.pk))
    assert row.metadata == {"stripe_ref": "pi_2", "message": message}


# --- refunds ------------------------------------------------------------------------


def test_a_refund_in_a_status_we_do_not_know_counts_as_pending(client, paid):
    post(client, refund_event("re_odd", 1000, status="in_transit"))
    refund = Refund.objects.get()
    assert (refund.status, refund.amount_pennies) == ("pending", 1000)
    paid.refresh_from_db()
    assert (paid.refund_status, paid.refunded_pennies, paid.refunded_at) == (
        "none",
        0,
        None,
    )


# --- exception_close: the ops case Stripe closes (payments/services/ledger/cases.py)


def _case(**fields):
    return PaymentException.objects.create(
        kind=PaymentException.Kind.DISPUTE, stripe_ref="dp_case", message="m", **fields
    )


def test_closing_an_open_case_dates_it_truncates_the_note_and_audits_it():
    from payments.services.ledger.cases import exception_close

    case = _case()
    note = "n" * 300
    assert exception_close(case=case, at=_at(BASE + 10), note=note) is True
    case.refresh_from_db()
    assert case.resolved_at == _at(BASE + 10)
    assert case.resolution_note == note[:255]
    row = AuditLog.objects.get(event_type="payment_exception.closed")
    assert (row.target_type, row.target_id) == (
        "payments.paymentexception",
        str(case.pk),
    )
    assert row.metadata == {"kind": case.kind, "stripe_ref": "dp_case", "note": note}


def test_a_case_stripe_closed_keeps_the_earliest_time_and_the_newest_note():
    from payments.services.ledger.cases import exception_close

    case = _case()
    exception_close(case=case, at=_at(BASE + 10), note="first")
    assert exception_close(case=case, at=_at(BASE + 20), note="first") is False
    case.refresh_from_db()
    assert (case.resolved_at, case.resolution_note) == (_at(BASE + 10), "first")
    assert exception_close(case=case, at=_at(BASE + 20), note="x" * 300) is False
    case.refresh_from_db()
    assert (case.resolved_at, case.resolution_note) == (_at(BASE + 10), "x" * 255)
    assert exception_close(case=case, at=_at(BASE + 5), note="x" * 300) is False
    case.refresh_from_db()
    assert case.resolved_at == _at(BASE + 5)
    assert AuditLog.objects.filter(event_type="payment_exception.closed").count() == 1


def test_a_case_a_person_resolved_stays_as_they_left_it(ops_user):
    from payments.services.ledger.cases import exception_close

    case = _case(resolved_at=_at(BASE + 10), resolved_by=ops_user, resolution_note="me")
    assert exception_close(case=case, at=_at(BASE + 5), note="stripe") is False
    case.refresh_from_db()
    assert (case.resolved_at, case.resolution_note) == (_at(BASE + 10), "me")


def test_closing_again_with_the_same_time_and_note_writes_nothing():
    from payments.services.ledger.cases import exception_close

    case = _case()
    exception_close(case=case, at=_at(BASE + 10), note="y" * 300)
    case.refresh_from_db()
    written = case.updated_at
    assert exception_close(case=case, at=_at(BASE + 10), note="y" * 300) is False
    case.refresh_from_db()
    assert case.updated_at == written
