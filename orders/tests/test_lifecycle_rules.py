"""The order state machine's rules, down to what each transition writes: the status
change row, the audit row's words and the order fields (tests that kill the mutants
of orders/services/lifecycle.py, docs/testing.md)."""

import dataclasses
import datetime as dt

import pytest

from audit.models import AuditLog
from catalog.models import StockReservation
from catalog.tests.factories import VariantFactory
from core.exceptions import IllegalTransition
from orders.models import Order, OrderStatusChange
from orders.services.lifecycle import (
    TRANSITIONS,
    By,
    order_cancel,
    order_fulfil,
    order_refunds_set,
    order_transition,
)
from orders.tests.factories import place_order
from payments.tests.events import BASE, intent_succeeded, post

pytestmark = pytest.mark.django_db
S = Order.Status


def _pending(customer, stock=5):
    return place_order(customer=customer, variants={VariantFactory(stock=stock): 1})


def _paid(customer):
    return order_transition(order=_pending(customer), to=S.PAID, by=By.PAYMENTS)


def _audit(order, event_type):
    return AuditLog.objects.get(event_type=event_type, target_id=str(order.pk))


def _message(excinfo) -> str:
    return str(excinfo.value)


def test_who_drives_a_transition_is_written_in_plain_words():
    assert (By.CUSTOMER, By.OPS, By.PAYMENTS, By.SYSTEM) == (
        "customer",
        "ops",
        "payments",
        "system",
    )


@pytest.mark.parametrize(
    ("by", "word"),
    [
        (By.CUSTOMER, "customer"),
        (By.OPS, "ops"),
        (By.SYSTEM, "system"),
    ],
)
def test_a_canceled_pending_order_records_who_canceled_it(customer, by, word):
    order = _pending(customer)
    order_transition(order=order, to=S.CANCELED, by=by)
    change = OrderStatusChange.objects.get(order=order, to_status=S.CANCELED)
    assert (change.from_status, change.by, change.actor, change.note) == (
        "pending",
        word,
        None,
        "",
    )
    row = _audit(order, "order.canceled")
    assert row.actor_label == word
    assert row.metadata == {
        "number": order.number,
        "from": "pending",
        "to": "canceled",
        "by": word,
    }


def test_the_audit_row_of_a_payment_names_the_payment_and_no_person(client, customer):
    order = _pending(customer)
    post(client, intent_succeeded(order, pi="pi_9", charge="ch_9"))
    change = OrderStatusChange.objects.get(order=order, to_status=S.PAID)
    assert (change.by, change.actor, change.note) == ("payments", None, "")
    row = _audit(order, "order.paid")
    assert (row.actor, row.actor_label) == (None, "payments")
    assert row.metadata == {
        "number": order.number,
        "from": "pending",
        "to": "paid",
        "by": "payments",
        "stripe_payment_intent": "pi_9",
        "stripe_charge_id": "ch_9",
        "payment_processing_since": "None",
    }


def test_an_ops_fulfilment_is_audited_under_the_person_with_the_tracking_reference(
    customer, ops_user
):
    order = _paid(customer)
    order_fulfil(
        order=order,
        actor=ops_user,
        tracking_reference="  RM123GB  ",
        carrier="royal-mail",
    )
    order.refresh_from_db()
    assert (order.status, order.tracking_reference, order.carrier) == (
        "fulfilled",
        "RM123GB",
        "royal-mail",
    )
    change = OrderStatusChange.objects.get(order=order, to_status=S.FULFILLED)
    assert (change.by, change.actor, change.note) == ("ops", ops_user, "")
    row = _audit(order, "order.fulfilled")
    assert (row.actor, row.actor_label, row.actor_role) == (
        ops_user,
        ops_user.email,
        "ops",
    )
    assert row.metadata == {
        "number": order.number,
        "from": "paid",
        "to": "fulfilled",
        "by": "ops",
        "tracking_reference": "RM123GB",
        "carrier": "royal-mail",
    }


def test_a_fulfilment_without_tracking_stores_no_reference(customer, ops_user):
    order = order_fulfil(order=_paid(customer), actor=ops_user)
    assert Order.objects.get(pk=order.pk).tracking_reference == ""
    assert _audit(order, "order.fulfilled").metadata["tracking_reference"] == ""


def test_a_long_tracking_reference_is_cut_to_the_hundred_characters_it_may_have(
    customer, ops_user
):
    order = order_fulfil(
        order=_paid(customer), actor=ops_user, tracking_reference="T" * 150
    )
    assert Order.objects.get(pk=order.pk).tracking_reference == "T" * 100


def test_a_note_is_kept_on_the_change_and_in_the_audit_row(customer, ops_user):
    order = _pending(customer)
    order_cancel(order=order, actor=ops_user, by=By.OPS, note="customer phoned")
    change = OrderStatusChange.objects.get(order=order, to_status=S.CANCELED)
    assert (change.by, change.actor, change.note) == (
        "ops",
        ops_user,
        "customer phoned",
    )
    assert _audit(order, "order.canceled").metadata["note"] == "customer phoned"


def test_a_cancel_without_a_note_writes_none(customer):
    order = _pending(customer)
    order_cancel(order=order, actor=customer, by=By.CUSTOMER)
    assert OrderStatusChange.objects.get(order=order, to_status=S.CANCELED).note == ""
    assert "note" not in _audit(order, "order.canceled").metadata


def test_a_transition_reads_the_order_afresh_not_the_callers_copy(customer):
    stale = _pending(customer)
    order_transition(
        order=Order.objects.get(pk=stale.pk), to=S.CANCELED, by=By.CUSTOMER
    )
    assert stale.status == S.PENDING  # what the caller still holds
    with pytest.raises(IllegalTransition) as excinfo:
        order_transition(order=stale, to=S.CANCELED, by=By.CUSTOMER)
    assert _message(excinfo) == (
        f"Order {stale.number} is canceled: it cannot become canceled."
    )
    assert (
        OrderStatusChange.objects.filter(order=stale, to_status=S.CANCELED).count() == 1
    )


def test_fulfilling_an_order_ops_loaded_before_it_was_paid_reads_it_afresh(
    customer, ops_user
):
    stale = _pending(customer)
    order_transition(order=Order.objects.get(pk=stale.pk), to=S.PAID, by=By.PAYMENTS)
    fulfilled = order_fulfil(order=stale, actor=ops_user)
    assert fulfilled.status == S.FULFILLED
    assert Order.objects.get(pk=stale.pk).status == S.FULFILLED


def test_an_illegal_transition_says_what_the_order_is_and_cannot_become(customer):
    order = _pending(customer)
    with pytest.raises(IllegalTransition) as excinfo:
        order_transition(order=order, to=S.FULFILLED, by=By.OPS)
    assert _message(excinfo) == (
        f"Order {order.number} is pending payment: it cannot become fulfilled."
    )


def test_a_fully_refunded_canceled_order_cannot_be_paid_again(customer):
    order = _paid(customer)
    Order.objects.filter(pk=order.pk).update(
        refund_status="full", refunded_pennies=order.total_pennies
    )
    order.refresh_from_db()
    order_transition(order=order, to=S.CANCELED, by=By.PAYMENTS)
    with pytest.raises(IllegalTransition) as excinfo:
        order_transition(order=order, to=S.PAID, by=By.PAYMENTS)
    assert _message(excinfo) == (
        f"Order {order.number} is fully refunded: it stays canceled."
    )
    assert Order.objects.get(pk=order.pk).status == S.CANCELED


def test_a_canceled_order_whose_full_refund_failed_is_paid_again(customer):
    order = _paid(customer)
    paid_at = order.paid_at
    Order.objects.filter(pk=order.pk).update(refund_status="full")
    order.refresh_from_db()
    order_transition(order=order, to=S.CANCELED, by=By.PAYMENTS)
    Order.objects.filter(pk=order.pk).update(refund_status="none")
    order.refresh_from_db()
    order_transition(order=order, to=S.PAID, by=By.PAYMENTS)
    order.refresh_from_db()
    assert (order.status, order.paid_at, order.canceled_at) == ("paid", paid_at, None)


@pytest.mark.django_db(transaction=True)
def test_already_locked_outside_a_transaction_names_the_mistake(customer):
    order = _pending(customer)
    with pytest.raises(ValueError) as excinfo:
        order_transition(
            order=order, to=S.CANCELED, by=By.CUSTOMER, already_locked=True
        )
    assert _message(excinfo) == "already_locked needs the transaction that locked it"
    assert Order.objects.get(pk=order.pk).status == S.PENDING


def test_paying_a_pending_order_leaves_its_holds_to_the_sale(customer):
    """Only a canceled pending order releases its reservations: at payment the sale
    (stock_sell) consumes them, the transition itself does not touch them."""
    order = _pending(customer)
    order_transition(order=order, to=S.PAID, by=By.PAYMENTS)
    assert StockReservation.objects.get(holder=order.holder).status == "active"


def test_canceling_a_paid_order_touches_no_reservation(customer):
    order = _paid(customer)
    Order.objects.filter(pk=order.pk).update(refund_status="full")
    order.refresh_from_db()
    order_transition(order=order, to=S.CANCELED, by=By.OPS)
    hold = StockReservation.objects.get(holder=order.holder)
    assert (hold.status, hold.closed_at) == ("active", None)


def test_the_transition_table_cannot_be_rewritten_at_run_time():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TRANSITIONS[0].target = S.FULFILLED


def test_refund_fields_written_from_the_ledger_are_audited_once(customer):
    order = _paid(customer)
    at = dt.datetime.fromtimestamp(BASE, tz=dt.UTC)
    assert order_refunds_set(
        order=order, refunded_pennies=500, refund_status="partial", refunded_at=at
    )
    assert not order_refunds_set(
        order=order, refunded_pennies=500, refund_status="partial", refunded_at=at
    )
    order.refresh_from_db()
    assert (order.refunded_pennies, order.refund_status, order.refunded_at) == (
        500,
        "partial",
        at,
    )
    row = _audit(order, "order.refund_status")
    assert (row.actor, row.actor_label) == (None, "stripe")
    assert row.metadata == {"refunded_pennies": 500, "refund_status": "partial"}


@pytest.mark.parametrize(
    ("late_charge", "early_charge"), [("", "ch_early"), ("ch_late", "")]
)
def test_an_earlier_payment_arriving_late_becomes_the_orders_payment_audited(
    client, customer, late_charge, early_charge
):
    order = _pending(customer)
    post(
        client, intent_succeeded(order, pi="pi_late", charge=late_charge, created=BASE)
    )
    post(
        client,
        intent_succeeded(
            order, pi="pi_early", charge=early_charge, created=BASE - 3600
        ),
    )
    order.refresh_from_db()
    early = dt.datetime.fromtimestamp(BASE - 3600, tz=dt.UTC)
    late = dt.datetime.fromtimestamp(BASE, tz=dt.UTC)
    assert (order.paid_at, order.stripe_payment_intent, order.stripe_charge_id) == (
        early,
        "pi_early",
        early_charge,
    )
    row = _audit(order, "order.payment_changed")
    assert (row.actor, row.actor_label) == (None, "stripe")
    assert row.metadata == {
        "number": order.number,
        "from_paid_at": str(late),
        "from_stripe_payment_intent": "pi_late",
        "from_stripe_charge_id": late_charge,
        "paid_at": str(early),
        "stripe_payment_intent": "pi_early",
        "stripe_charge_id": early_charge,
    }
