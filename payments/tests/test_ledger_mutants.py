"""The payment ledger's rules at their edges, called as the handlers call them: the
same-second ties of the newest-wins tables, invoice payments met by their
PaymentIntent, the choice of an order's payment, refunds and the ops requests behind
them, disputes and their cases (tests that kill the mutants of
payments/services/ledger/, docs/testing.md "Mutation testing")."""

import datetime as dt

import pytest
import time_machine

from audit.models import AuditLog
from catalog.models import StockMovement, Variant
from catalog.tests.factories import VariantFactory
from orders.models import Order
from orders.services.lifecycle import By, order_transition
from orders.tests.factories import place_order
from payments.models import (
    Dispute,
    Payment,
    PaymentException,
    Refund,
    RefundRequest,
    StripeEvent,
)
from payments.services.ledger import (
    customer_for,
    dispute_record,
    exception_raise,
    payment_charge_attach,
    payment_processing,
    payment_record,
    payments_settle,
    refund_record,
)
from payments.services.ledger.invoices import (
    invoice_payment_link,
    invoice_payment_record,
)
from payments.services.ledger.payments import CHECKOUT_EXPIRED
from payments.services.refunds import refundable_pennies
from payments.tests.events import BASE

pytestmark = pytest.mark.django_db


def _at(seconds: int = 0) -> dt.datetime:
    return dt.datetime.fromtimestamp(BASE + seconds, tz=dt.UTC)


def _order(customer, *, stock=5, quantity=2) -> Order:
    return place_order(
        customer=customer, variants={VariantFactory(stock=stock): quantity}
    )


def _pay(order, *, pi="pi_1", charge="ch_1", at=0, amount=None, currency=None):
    """What payment_intent.succeeded records for `order`."""
    return payment_record(
        payment_intent=pi,
        charge=charge,
        amount_pennies=order.total_pennies if amount is None else amount,
        currency=currency or order.currency,
        paid_at=_at(at),
        order=order,
    )


def _fresh(obj):
    obj.refresh_from_db()
    return obj


@pytest.fixture
def paid(customer):
    order = _order(customer)
    _pay(order)
    assert _fresh(order).status == "paid"
    return order


# --- invoice payments (invoices.py) -----------------------------------------------


def _invoice(k="1", *, amount=999, paid_at=60, intent="", charge="", sub="sub_1"):
    invoice = {
        "id": f"in_{k}",
        "object": "invoice",
        "customer": "cus_1",
        "currency": "gbp",
        "amount_paid": amount,
        "status_transitions": {"paid_at": BASE + paid_at if paid_at else None},
    }
    if intent:
        invoice["payment_intent"] = intent
    if charge:
        invoice["charge"] = charge
    if sub:
        invoice["subscription"] = sub
    return invoice


def _record_invoice(invoice, *, seen=100, customer=None):
    return invoice_payment_record(invoice=invoice, seen_at=_at(seen), customer=customer)


def _lone_intent(pi="pi_9", *, at=60, amount=999):
    """A PaymentIntent of no order (an invoice's, recorded by its own event)."""
    return payment_record(
        payment_intent=pi,
        charge="",
        amount_pennies=amount,
        currency="GBP",
        paid_at=_at(at),
        order=None,
    )


def test_an_invoice_that_moved_no_money_records_no_payment():
    assert _record_invoice(_invoice(amount=0)) is None
    assert _record_invoice(_invoice("2", amount=-5)) is None
    assert not Payment.objects.exists()


def test_an_invoice_with_an_amount_that_is_not_a_number_records_no_payment():
    assert _record_invoice(_invoice(amount="999")) is None
    assert not Payment.objects.exists()


def test_an_invoice_of_one_penny_is_a_payment_of_one_penny():
    payment = _record_invoice(_invoice(amount=1))
    assert _fresh(payment).amount_pennies == 1


def test_a_new_invoice_payment_holds_every_id_the_invoice_names(customer):
    payment = _record_invoice(
        _invoice(intent="pi_5", charge="ch_5", paid_at=60), seen=100, customer=customer
    )
    payment = Payment.objects.get(pk=payment.pk)
    assert (
        payment.stripe_invoice_id,
        payment.stripe_payment_intent,
        payment.stripe_charge_id,
        payment.stripe_customer_id,
        payment.stripe_subscription_id,
    ) == ("in_1", "pi_5", "ch_5", "cus_1", "sub_1")
    assert (payment.customer, payment.source, payment.currency) == (
        customer,
        "subscription",
        "GBP",
    )
    assert (payment.amount_pennies, payment.paid_at, payment.order) == (
        999,
        _at(60),
        None,
    )
    row = AuditLog.objects.get(event_type="payment.recorded")
    assert (row.actor_label, row.target_type, row.target_id) == (
        "stripe",
        "payments.payment",
        str(payment.pk),
    )
    assert row.metadata == {"invoice": "in_1", "amount_pennies": 999}


def test_invoices_without_a_payment_intent_or_charge_are_each_their_own_payment():
    first = _record_invoice(_invoice("1", sub=""))
    second = _record_invoice(_invoice("2", sub=""))
    assert first.pk != second.pk
    rows = Payment.objects.order_by("pk").values_list(
        "stripe_payment_intent", "stripe_charge_id", "source"
    )
    assert list(rows) == [(None, None, "other"), (None, None, "other")]


def test_an_invoice_without_a_paid_at_is_dated_when_it_was_seen():
    for transitions in ({"paid_at": None}, None, "2026"):
        invoice = _invoice(str(transitions), paid_at=0)
        invoice["status_transitions"] = transitions
        payment = _record_invoice(invoice, seen=100)
        assert _fresh(payment).paid_at == _at(100)


def test_an_invoice_names_the_payment_its_payment_intent_recorded_first():
    lone = _lone_intent("pi_9", at=60)
    payment = _record_invoice(_invoice(intent="pi_9", paid_at=60))
    assert payment.pk == lone.pk
    lone = _fresh(lone)
    assert (lone.stripe_invoice_id, lone.source, lone.stripe_subscription_id) == (
        "in_1",
        "subscription",
        "sub_1",
    )
    assert Payment.objects.count() == 1


def test_an_invoice_only_adding_its_id_to_its_payment_intents_row_saves_it():
    """Same time, no subscription: the invoice id is the only news, and it is kept."""
    lone = _lone_intent("pi_9", at=60)
    _record_invoice(_invoice(intent="pi_9", paid_at=60, sub=""))
    lone = _fresh(lone)
    assert (lone.stripe_invoice_id, lone.source, lone.paid_at) == (
        "in_1",
        "other",
        _at(60),
    )


def test_an_invoice_delivered_again_writes_nothing():
    with time_machine.travel(_at(1000), tick=False):
        payment = _record_invoice(_invoice(intent="pi_5", paid_at=60))
    with time_machine.travel(_at(2000), tick=False):
        again = _record_invoice(_invoice(intent="pi_5", paid_at=60), seen=500)
    assert again.pk == payment.pk
    assert _fresh(payment).updated_at == _at(1000)


def _invoice_row(**fields):
    defaults = {
        "stripe_invoice_id": "in_1",
        "stripe_payment_intent": "pi_1",
        "stripe_subscription_id": "sub_1",
        "source": "subscription",
        "amount_pennies": 999,
        "currency": "GBP",
        "paid_at": _at(60),
    }
    return Payment.objects.create(**(defaults | fields))


@pytest.mark.parametrize(
    ("fields", "invoice_changes", "expected"),
    [
        ({"source": "other"}, {}, {"source": "subscription"}),
        ({"stripe_subscription_id": ""}, {}, {"stripe_subscription_id": "sub_1"}),
        ({"stripe_payment_intent": None}, {}, {"stripe_payment_intent": "pi_1"}),
        ({}, {"paid_at": 30}, {"paid_at": _at(30)}),
    ],
    ids=["source", "subscription", "payment_intent", "paid_at"],
)
def test_an_invoice_fills_in_what_its_payment_lacks_even_when_it_is_the_only_news(
    fields, invoice_changes, expected
):
    row = _invoice_row(**fields)
    invoice = _invoice(intent="pi_1", **({"paid_at": 60} | invoice_changes))
    _record_invoice(invoice)
    row = Payment.objects.get(pk=row.pk)
    assert {name: getattr(row, name) for name in expected} == expected


def test_an_invoice_never_replaces_what_its_payment_already_says():
    row = _invoice_row(source="order", stripe_subscription_id="sub_old")
    _record_invoice(_invoice(intent="pi_other", sub="sub_new", paid_at=0), seen=500)
    row = Payment.objects.get(pk=row.pk)
    assert (
        row.source,
        row.stripe_subscription_id,
        row.stripe_payment_intent,
        row.paid_at,
    ) == ("order", "sub_old", "pi_1", _at(60))


def test_a_subscription_invoice_makes_an_other_payment_subscription_revenue_only():
    row = _invoice_row(source="other")
    _record_invoice(_invoice(sub="", paid_at=60))
    assert Payment.objects.get(pk=row.pk).source == "other"


def test_linking_an_invoice_neither_recorded_writes_nothing():
    assert (
        invoice_payment_link(invoice_id="in_1", intent="pi_1", subscription=True)
        is None
    )
    assert not Payment.objects.exists()


def test_linking_merges_the_payment_intents_row_into_the_invoices(customer, ops_user):
    order = _order(customer)
    intent_row = _lone_intent("pi_9", at=60)
    Payment.objects.filter(pk=intent_row.pk).update(stripe_charge_id="ch_9")
    refund_record(
        obj={
            "id": "re_9",
            "amount": 100,
            "payment_intent": "pi_9",
            "status": "pending",
        },
        seen_at=_at(70),
    )
    dispute_record(
        obj={"id": "dp_9", "amount": 999, "payment_intent": "pi_9"}, seen_at=_at(80)
    )
    RefundRequest.objects.create(
        idempotency_key="k9",
        order=order,
        payment=intent_row,
        amount_pennies=100,
        currency="GBP",
        requested_by=ops_user,
    )
    invoice_row = _record_invoice(_invoice(paid_at=60))
    assert invoice_row.pk != intent_row.pk

    merged = invoice_payment_link(invoice_id="in_1", intent="pi_9", subscription=True)

    assert merged.pk == invoice_row.pk
    (payment,) = Payment.objects.all()
    assert (payment.pk, payment.stripe_payment_intent, payment.stripe_charge_id) == (
        invoice_row.pk,
        "pi_9",
        "ch_9",
    )
    assert Refund.objects.get().payment == payment
    assert Dispute.objects.get().payment == payment
    assert RefundRequest.objects.get().payment == payment
    assert PaymentException.objects.get(kind="dispute").payment == payment
    row = AuditLog.objects.get(event_type="payment.merged")
    assert (row.actor_label, row.target_type, row.target_id) == (
        "stripe",
        "payments.payment",
        str(payment.pk),
    )
    assert row.metadata == {"kept": "in_1", "merged": "pi_9"}


def test_a_merge_keeps_the_invoices_own_charge():
    _lone_intent("pi_9", at=60)
    Payment.objects.filter(stripe_payment_intent="pi_9").update(stripe_charge_id="ch_9")
    invoice_row = _record_invoice(_invoice(paid_at=60, charge="ch_in"))
    invoice_payment_link(invoice_id="in_1", intent="pi_9", subscription=True)
    assert Payment.objects.get().pk == invoice_row.pk
    assert Payment.objects.get().stripe_charge_id == "ch_in"


def test_linking_an_invoice_already_on_its_payment_intents_row_keeps_that_row():
    row = _invoice_row()
    for _ in range(2):
        linked = invoice_payment_link(
            invoice_id="in_1", intent="pi_1", subscription=True
        )
        assert linked.pk == row.pk
    assert Payment.objects.get().pk == row.pk
    assert not AuditLog.objects.filter(event_type="payment.merged").exists()


def test_linking_fills_in_the_invoice_of_a_payment_intents_row():
    row = _lone_intent("pi_9")
    linked = invoice_payment_link(invoice_id="in_1", intent="pi_9", subscription=True)
    assert linked.pk == row.pk
    row = _fresh(row)
    assert (row.stripe_invoice_id, row.stripe_payment_intent, row.source) == (
        "in_1",
        "pi_9",
        "subscription",
    )


def test_linking_fills_in_the_payment_intent_of_an_invoices_row():
    row = _invoice_row(stripe_payment_intent=None, source="other")
    invoice_payment_link(invoice_id="in_1", intent="pi_7", subscription=False)
    row = _fresh(row)
    assert (row.stripe_invoice_id, row.stripe_payment_intent, row.source) == (
        "in_1",
        "pi_7",
        "other",
    )


def test_linking_makes_only_an_other_payment_subscription_revenue(customer):
    order = _order(customer)
    row = _pay(order, pi="pi_o")
    invoice_payment_link(invoice_id="in_o", intent="pi_o", subscription=True)
    row = _fresh(row)
    assert (row.source, row.stripe_invoice_id) == ("order", "in_o")


# --- refunds: the newest state wins, ties by the refund's life (refunds.py) --------


def _refund(status="succeeded", *, at=100, refund_id="re_1", amount=500, **extra):
    obj = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "charge": "ch_1",
        "payment_intent": "pi_1",
        "currency": "gbp",
        "status": status,
    } | extra
    return refund_record(obj=obj, seen_at=_at(at))


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("pending", "requires_action"),
        ("requires_action", "succeeded"),
        ("pending", "succeeded"),
        ("succeeded", "failed"),
        ("succeeded", "canceled"),
        ("pending", "canceled"),
    ],
)
def test_two_refund_states_of_one_second_end_in_the_later_one_in_either_order(
    paid, earlier, later
):
    for first, second in ((earlier, later), (later, earlier)):
        Refund.objects.all().delete()
        _refund(first, at=100)
        _refund(second, at=100)
        assert Refund.objects.get().status == later, (first, second)


@pytest.mark.parametrize(
    ("first", "second"), [("failed", "canceled"), ("canceled", "failed")]
)
def test_failed_and_canceled_rank_alike_so_the_last_delivered_of_one_second_stands(
    paid, first, second
):
    _refund(first, at=100)
    _refund(second, at=100)
    assert Refund.objects.get().status == second


@pytest.mark.parametrize(
    "status", ["pending", "requires_action", "succeeded", "failed", "canceled"]
)
def test_every_stripe_refund_status_is_kept_as_stripe_says_it(paid, status):
    refund = _refund(status)
    assert _fresh(refund).status == status


def test_a_refund_before_its_payment_writes_nothing(customer):
    assert _refund("succeeded") is None
    assert not Refund.objects.exists()


def test_a_new_refund_holds_what_stripe_and_its_payment_say(paid):
    refund = refund_record(
        obj={
            "id": "re_1",
            "amount": 700,
            "payment_intent": "pi_1",
            "status": "pending",
        },
        seen_at=_at(100),
        created=_at(90),
    )
    refund = _fresh(refund)
    assert (refund.payment, refund.stripe_charge_id, refund.stripe_payment_intent) == (
        Payment.objects.get(),
        "ch_1",
        "pi_1",
    )
    assert (refund.amount_pennies, refund.currency, refund.reason) == (700, "GBP", "")
    assert (refund.status_at, refund.stripe_created) == (_at(100), _at(90))


def test_a_refund_without_its_created_time_counts_from_when_it_was_seen(paid):
    refund = _fresh(_refund("succeeded", at=100, amount="700"))
    assert (refund.stripe_created, refund.amount_pennies) == (_at(100), 0)
    assert _fresh(paid).refunded_at is None


def test_a_refund_keeps_its_earliest_created_time_whatever_arrives_later(paid):
    refund_record(
        obj={"id": "re_1", "amount": 100, "charge": "ch_1", "status": "pending"},
        seen_at=_at(100),
        created=_at(80),
    )
    refund_record(
        obj={"id": "re_1", "amount": 100, "charge": "ch_1", "status": "succeeded"},
        seen_at=_at(200),
        created=_at(150),
    )
    refund = Refund.objects.get()
    assert (refund.stripe_created, refund.status, refund.status_at) == (
        _at(80),
        "succeeded",
        _at(200),
    )
    refund_record(
        obj={"id": "re_1", "amount": 100, "charge": "ch_1", "status": "succeeded"},
        seen_at=_at(300),
        created=_at(50),
    )
    assert Refund.objects.get().stripe_created == _at(50)
    assert _fresh(paid).refunded_at == _at(50)


def test_older_news_of_a_refund_changes_none_of_its_fields(paid):
    _refund("succeeded", at=200, amount=500, currency="gbp", reason="duplicate")
    _refund("pending", at=100, amount=900, currency="eur", reason="fraudulent")
    refund = Refund.objects.get()
    assert (refund.status, refund.status_at, refund.amount_pennies) == (
        "succeeded",
        _at(200),
        500,
    )
    assert (refund.currency, refund.reason) == ("GBP", "duplicate")


def test_newer_news_of_a_refund_replaces_its_fields(paid):
    _refund("pending", at=100, amount=500)
    _refund("succeeded", at=200, amount=600, currency="gbp", reason="duplicate")
    refund = Refund.objects.get()
    assert (refund.status, refund.status_at, refund.amount_pennies) == (
        "succeeded",
        _at(200),
        600,
    )
    assert refund.reason == "duplicate"


def test_a_refund_without_a_currency_takes_its_payments(customer):
    order = _order(customer)
    _pay(order)
    refund = refund_record(
        obj={
            "id": "re_1",
            "amount": 10,
            "charge": "ch_1",
            "status": "pending",
            "currency": None,
        },
        seen_at=_at(100),
    )
    assert _fresh(refund).currency == order.currency.upper()


def test_a_failed_refund_is_a_case_naming_the_money_not_paid_back(paid):
    refund = _refund("failed", amount=1234)
    case = PaymentException.objects.get(kind="refund_failed")
    assert (case.stripe_ref, case.order, case.payment) == ("re_1", paid, refund.payment)
    assert case.message == (
        "Refund re_1 of £12.34 failed: the customer has not been paid back. "
        "Refund again or contact them."
    )


def test_a_refund_of_one_penny_is_a_partial_refund(paid):
    _refund("succeeded", amount=1, at=100)
    paid = _fresh(paid)
    assert (paid.refund_status, paid.refunded_pennies, paid.refunded_at) == (
        "partial",
        1,
        _at(100),
    )
    assert Refund.objects.get().restocked_at is None  # nothing asked to restock
    assert not PaymentException.objects.exists()


def test_a_full_refund_cancels_a_paid_order_and_its_failure_makes_it_paid_again(paid):
    _refund("succeeded", amount=paid.total_pennies, at=100)
    paid = _fresh(paid)
    assert (paid.status, paid.refund_status) == ("canceled", "full")
    change = paid.status_changes.order_by("-pk").first()
    assert (change.to_status, change.by, change.note) == (
        "canceled",
        "payments",
        "fully refunded",
    )
    _refund("failed", amount=paid.total_pennies, at=200)
    paid = _fresh(paid)
    assert (paid.status, paid.refund_status, paid.refunded_pennies) == (
        "paid",
        "none",
        0,
    )
    change = paid.status_changes.order_by("-pk").first()
    assert (change.to_status, change.by, change.note) == (
        "paid",
        "payments",
        "no longer fully refunded: the sale stands",
    )


def test_a_partial_refund_failing_leaves_a_paid_order_paid(paid):
    _refund("succeeded", amount=100, at=100)
    _refund("failed", amount=100, at=200)
    paid = _fresh(paid)
    assert (paid.status, paid.refund_status, paid.refunded_pennies) == (
        "paid",
        "none",
        0,
    )
    assert paid.status_changes.filter(to_status="canceled").count() == 0


def test_a_refund_of_a_canceled_orders_unapplied_payment_does_not_reopen_it(customer):
    order = _order(customer)
    order_transition(order=order, to=Order.Status.CANCELED, by=By.SYSTEM, note="ops")
    _pay(_fresh(order))
    assert Payment.objects.get().problem == "paid_after_cancel"
    _refund("succeeded", amount=100)
    order = _fresh(order)
    assert (order.status, order.refund_status, order.refunded_pennies) == (
        "canceled",
        "none",
        0,
    )


def test_refunds_of_a_second_payment_do_not_count_on_the_order(paid):
    _pay(paid, pi="pi_2", charge="ch_2", at=60)
    refund_record(
        obj={
            "id": "re_2",
            "amount": paid.total_pennies,
            "charge": "ch_2",
            "status": "succeeded",
        },
        seen_at=_at(100),
    )
    paid = _fresh(paid)
    assert (paid.status, paid.refund_status, paid.refunded_pennies) == (
        "paid",
        "none",
        0,
    )


def test_a_pending_or_requested_refund_is_no_longer_refundable(paid):
    total = paid.total_pennies
    for status, taken in [
        ("pending", 100),
        ("requires_action", 200),
        ("succeeded", 300),
    ]:
        _refund(status, refund_id=f"re_{status}", amount=taken)
    _refund("failed", refund_id="re_failed", amount=1000)
    _refund("canceled", refund_id="re_canceled", amount=1000)
    assert refundable_pennies(_fresh(paid)) == total - 600


# --- the ops request behind a refund, and its restock (refunds.py) ----------------


def _variant_of(order):
    return order.lines.get().variant


def _request(
    order,
    ops_user,
    *,
    key="rq_1",
    status="requested",
    reason="",
    restock=None,
    **fields,
):
    return RefundRequest.objects.create(
        idempotency_key=key,
        order=order,
        payment=Payment.objects.get(order=order, applied=True),
        amount_pennies=500,
        currency="GBP",
        reason=reason,
        restock=restock or {},
        requested_by=ops_user,
        status=status,
        **fields,
    )


def test_a_refund_names_its_request_by_the_key_in_its_metadata(paid, ops_user):
    variant = _variant_of(paid)
    request = _request(paid, ops_user, reason="damaged", restock={str(variant.pk): 1})
    refund = _fresh(_refund(metadata={"refund_request": "rq_1"}, reason=None))
    request = _fresh(request)
    assert (request.status, request.stripe_refund_id) == ("sent", "re_1")
    assert (refund.idempotency_key, refund.requested_by, refund.reason) == (
        "rq_1",
        ops_user,
        "damaged",
    )
    assert refund.restock == {str(variant.pk): 1}


def test_a_refund_names_its_request_by_its_stripe_id_without_metadata(paid, ops_user):
    request = _request(paid, ops_user, status="sent", stripe_refund_id="re_1")
    refund = _fresh(_refund(metadata="not a dict"))
    assert (refund.idempotency_key, refund.requested_by) == (
        request.idempotency_key,
        ops_user,
    )


def test_a_refund_keeps_stripes_reason_over_its_requests(paid, ops_user):
    _request(paid, ops_user, reason="damaged")
    refund = _fresh(_refund(metadata={"refund_request": "rq_1"}, reason="duplicate"))
    assert refund.reason == "duplicate"


def test_a_refund_with_a_key_that_is_no_text_names_no_request(paid, ops_user):
    _request(paid, ops_user, key="7")
    for key in (7, ""):
        refund = _fresh(_refund(metadata={"refund_request": key}))
        assert (refund.idempotency_key, refund.requested_by) == (None, None)
    assert RefundRequest.objects.get().status == "requested"


def test_a_refund_of_a_request_stripe_refused_is_audited_and_sends_it(paid, ops_user):
    _request(paid, ops_user, status="refused", last_error="card_declined")
    _refund(metadata={"refund_request": "rq_1"})
    request = RefundRequest.objects.get()
    assert (request.status, request.stripe_refund_id) == ("sent", "re_1")
    row = AuditLog.objects.get(event_type="refund.request_made_after_refusal")
    assert (row.actor_label, row.target_type, row.target_id) == (
        "stripe",
        "orders.order",
        str(paid.pk),
    )
    assert row.metadata == {
        "idempotency_key": "rq_1",
        "refund": "re_1",
        "error": "card_declined",
    }


def test_a_refund_of_a_request_already_sent_leaves_the_request_alone(paid, ops_user):
    with time_machine.travel(_at(1000), tick=False):
        request = _request(paid, ops_user, status="sent", stripe_refund_id="re_1")
    with time_machine.travel(_at(2000), tick=False):
        _refund(metadata={"refund_request": "rq_1"})
    assert _fresh(request).updated_at == _at(1000)
    assert not AuditLog.objects.filter(
        event_type="refund.request_made_after_refusal"
    ).exists()


def test_a_sent_request_without_its_refund_id_learns_it(paid, ops_user):
    request = _request(paid, ops_user, status="sent")
    _refund(metadata={"refund_request": "rq_1"})
    assert _fresh(request).stripe_refund_id == "re_1"


def _stock(variant):
    return Variant.objects.get(pk=variant.pk).stock_on_hand


def test_a_succeeded_refund_restocks_once_and_its_failure_takes_the_units_back(
    paid, ops_user
):
    variant = _variant_of(paid)
    before = _stock(variant)
    _request(paid, ops_user, restock={str(variant.pk): 2})
    _refund("succeeded", at=100, metadata={"refund_request": "rq_1"})
    _refund("succeeded", at=150, metadata={"refund_request": "rq_1"})
    assert _stock(variant) == before + 2
    refund = Refund.objects.get()
    assert refund.restocked_at == _at(100)
    movement = StockMovement.objects.get(reason="refund_restock")
    assert (movement.delta, movement.note, movement.actor) == (
        2,
        "refund re_1",
        ops_user,
    )
    _refund("failed", at=200)
    assert _stock(variant) == before
    assert Refund.objects.get().restocked_at is None
    movement = StockMovement.objects.get(reason="restock_reversed")
    assert (movement.delta, movement.note) == (-2, "refund re_1 failed")
    _refund("failed", at=250)
    assert _stock(variant) == before


def test_a_canceled_refund_that_restocked_takes_the_units_back(paid, ops_user):
    variant = _variant_of(paid)
    before = _stock(variant)
    _request(paid, ops_user, restock={str(variant.pk): 1})
    _refund("succeeded", at=100, metadata={"refund_request": "rq_1"})
    _refund("canceled", at=200)
    assert _stock(variant) == before
    assert Refund.objects.get().restocked_at is None


def test_a_pending_or_failed_refund_restocks_nothing(paid, ops_user):
    variant = _variant_of(paid)
    before = _stock(variant)
    _request(paid, ops_user, restock={str(variant.pk): 1})
    _refund("pending", at=100, metadata={"refund_request": "rq_1"})
    assert (_stock(variant), Refund.objects.get().restocked_at) == (before, None)
    _refund("failed", at=200)
    assert (_stock(variant), Refund.objects.get().restocked_at) == (before, None)
    assert not StockMovement.objects.filter(
        reason__in=["refund_restock", "restock_reversed"]
    ).exists()


def test_a_refund_of_a_payment_of_no_order_is_recorded(customer):
    _lone_intent("pi_9")
    refund = refund_record(
        obj={"id": "re_9", "amount": 100, "payment_intent": "pi_9", "status": "failed"},
        seen_at=_at(100),
    )
    assert _fresh(refund).status == "failed"
    assert PaymentException.objects.get(kind="refund_failed").order is None


# --- disputes (disputes.py) --------------------------------------------------------


def _dispute(status="needs_response", *, at=100, dispute_id="dp_1", **kwargs):
    extra = {
        k: kwargs.pop(k)
        for k in list(kwargs)
        if k not in ("created", "withdrawn", "reinstated")
    }
    obj = {
        "id": dispute_id,
        "object": "dispute",
        "amount": 1500,
        "charge": "ch_1",
        "currency": "gbp",
        "status": status,
        "reason": "fraudulent",
    } | extra
    return dispute_record(obj=obj, seen_at=_at(at), **kwargs)


OPEN_PAIRS = [
    ("warning_needs_response", "warning_under_review"),
    ("needs_response", "under_review"),
    ("warning_under_review", "warning_closed"),
    ("under_review", "won"),
    ("under_review", "lost"),
    ("under_review", "charge_refunded"),
    ("needs_response", "prevented"),
]


@pytest.mark.parametrize(("earlier", "later"), OPEN_PAIRS)
def test_two_dispute_states_of_one_second_end_in_the_later_one_in_either_order(
    paid, earlier, later
):
    for first, second in ((earlier, later), (later, earlier)):
        Dispute.objects.all().delete()
        PaymentException.objects.all().delete()
        _dispute(first, at=100)
        _dispute(second, at=100)
        assert Dispute.objects.get().status == later, (first, second)


CLOSED = ["won", "lost", "charge_refunded", "prevented", "warning_closed"]


@pytest.mark.parametrize("first", CLOSED)
def test_closing_dispute_states_rank_alike_so_the_last_delivered_of_one_second_stands(
    paid, first
):
    second = CLOSED[(CLOSED.index(first) + 1) % len(CLOSED)]
    _dispute(first, at=100)
    _dispute(second, at=100)
    assert Dispute.objects.get().status == second


@pytest.mark.parametrize(
    ("status", "note"),
    [
        ("won", "Dispute won: the funds were returned."),
        ("lost", "Dispute lost: the funds stay with the card holder."),
        ("warning_closed", "Dispute closed as an inquiry, no funds moved."),
        ("charge_refunded", "Dispute closed: the charge was refunded."),
        ("prevented", "Dispute prevented."),
    ],
)
def test_a_closed_dispute_closes_its_case_with_its_outcome(paid, status, note):
    _dispute(status, at=100)
    case = PaymentException.objects.get(kind="dispute")
    assert (case.resolved_at, case.resolution_note) == (_at(100), note)
    row = AuditLog.objects.get(event_type="payment_exception.closed")
    assert (row.target_type, row.target_id) == ("orders.order", str(paid.pk))
    assert row.metadata == {"kind": "dispute", "stripe_ref": "dp_1", "note": note}


def test_an_open_dispute_is_an_open_case_naming_its_money_and_reason(paid):
    dispute = _dispute("needs_response", at=100)
    case = PaymentException.objects.get(kind="dispute")
    assert (case.stripe_ref, case.order, case.payment, case.resolved_at) == (
        "dp_1",
        paid,
        dispute.payment,
        None,
    )
    assert case.message == (
        "Dispute dp_1 (fraudulent) for £15.00: respond in the Stripe Dashboard "
        "while it needs a response."
    )


def test_a_dispute_without_a_reason_or_status_needs_a_response(paid):
    dispute = _dispute(at=100, status=None, reason=None, amount="15", currency=None)
    dispute = _fresh(dispute)
    assert (
        dispute.status,
        dispute.reason,
        dispute.amount_pennies,
        dispute.currency,
    ) == (
        "needs_response",
        "",
        0,
        "",
    )
    assert PaymentException.objects.get().message.startswith(
        "Dispute dp_1 (no reason) for"
    )


def test_a_dispute_before_its_payment_writes_nothing(customer):
    assert _dispute() is None
    assert not Dispute.objects.exists()
    assert not PaymentException.objects.exists()


def test_a_new_dispute_holds_what_stripe_says(paid):
    dispute = _fresh(_dispute("needs_response", at=100, created=_at(90)))
    assert (dispute.stripe_charge_id, dispute.amount_pennies, dispute.currency) == (
        "ch_1",
        1500,
        "GBP",
    )
    assert (dispute.status_at, dispute.stripe_created, dispute.reason) == (
        _at(100),
        _at(90),
        "fraudulent",
    )
    assert dispute.payment == Payment.objects.get()
    other = _fresh(_dispute(at=100, dispute_id="dp_2"))
    assert other.stripe_created == _at(100)


def test_older_news_of_a_dispute_changes_none_of_its_fields(paid):
    _dispute("under_review", at=200, amount=1500, reason="fraudulent")
    _dispute("needs_response", at=100, amount=900, reason="general", currency="eur")
    dispute = Dispute.objects.get()
    assert (dispute.status, dispute.status_at, dispute.amount_pennies) == (
        "under_review",
        _at(200),
        1500,
    )
    assert (dispute.reason, dispute.currency) == ("fraudulent", "GBP")


def test_newer_news_of_a_dispute_replaces_its_fields(paid):
    _dispute("needs_response", at=100)
    _dispute("under_review", at=200, amount=900, reason="general", currency="eur")
    dispute = Dispute.objects.get()
    assert (dispute.status, dispute.status_at, dispute.amount_pennies) == (
        "under_review",
        _at(200),
        900,
    )
    assert (dispute.reason, dispute.currency) == ("general", "EUR")


def test_funds_withdrawn_and_reinstated_are_dated_by_their_events_even_when_older(paid):
    _dispute("under_review", at=300)
    _dispute("needs_response", at=100, withdrawn=1500)
    dispute = Dispute.objects.get()
    assert (dispute.funds_withdrawn_pennies, dispute.funds_withdrawn_at) == (
        1500,
        _at(100),
    )
    assert (dispute.funds_reinstated_pennies, dispute.funds_reinstated_at) == (0, None)
    _dispute("won", at=400, reinstated=1500)
    dispute = Dispute.objects.get()
    assert (dispute.funds_reinstated_pennies, dispute.funds_reinstated_at) == (
        1500,
        _at(400),
    )
    assert (dispute.funds_withdrawn_pennies, dispute.funds_withdrawn_at) == (
        1500,
        _at(100),
    )


def test_a_dispute_case_closes_at_the_earliest_closing_time_seen(paid):
    _dispute("won", at=200)
    _dispute("won", at=100)
    case = PaymentException.objects.get(kind="dispute")
    assert case.resolved_at == _at(100)
    assert Dispute.objects.get().status_at == _at(200)


def test_an_older_open_state_after_the_close_keeps_the_case_closed_when_it_was(paid):
    _dispute("lost", at=200)
    _dispute("needs_response", at=100)
    case = PaymentException.objects.get(kind="dispute")
    assert (case.resolved_at, case.resolution_note) == (
        _at(200),
        "Dispute lost: the funds stay with the card holder.",
    )


# --- payments and the order they pay (payments.py) ---------------------------------


def test_a_customer_is_found_by_their_order_or_their_email_in_any_case(customer):
    order = _order(customer)
    assert customer_for(order=order, email="nobody@example.com") == customer
    assert customer_for(order=None, email=customer.email.upper()) == customer
    assert customer_for(order=None, email="") is None
    assert customer_for(order=None, email="nobody@example.com") is None


def test_a_payment_of_no_order_belongs_to_the_customer_its_email_names(customer):
    payment = payment_record(
        payment_intent="pi_9",
        charge="",
        amount_pennies=500,
        currency="GBP",
        paid_at=_at(10),
        order=None,
        email=customer.email,
        stripe_customer="cus_9",
    )
    payment = _fresh(payment)
    assert (payment.customer, payment.source, payment.stripe_customer_id) == (
        customer,
        "other",
        "cus_9",
    )
    assert (payment.stripe_payment_intent, payment.stripe_charge_id) == ("pi_9", None)
    assert (payment.applied, payment.problem, payment.paid_at) == (False, "", _at(10))
    row = AuditLog.objects.get(event_type="payment.recorded")
    assert (row.target_type, row.target_id) == ("payments.payment", str(payment.pk))
    assert row.metadata == {"payment": "pi_9", "amount_pennies": 500, "currency": "GBP"}


def test_a_payment_keeps_the_source_it_is_recorded_with(customer):
    order = _order(customer)
    payment = payment_record(
        payment_intent="pi_1",
        charge="ch_1",
        amount_pennies=order.total_pennies,
        currency=order.currency,
        paid_at=_at(),
        order=order,
        source="subscription",
    )
    assert (_fresh(payment).source, payment.customer_id) == (
        "subscription",
        customer.pk,
    )
    order_payment = _pay(_order(customer), pi="pi_2", charge="ch_2")
    assert _fresh(order_payment).source == "order"


def test_lone_charges_without_a_payment_intent_are_each_their_own_payment():
    for charge in ("ch_a", "ch_b"):
        payment_record(
            payment_intent="",
            charge=charge,
            amount_pennies=100,
            currency="GBP",
            paid_at=_at(),
            order=None,
        )
    assert list(
        Payment.objects.order_by("pk").values_list(
            "stripe_payment_intent", "stripe_charge_id"
        )
    ) == [
        (None, "ch_a"),
        (None, "ch_b"),
    ]


def test_a_known_payment_only_gains_a_missing_charge(customer):
    order = _order(customer)
    _pay(order, charge="")
    order = _fresh(order)
    assert (order.status, order.stripe_charge_id) == ("paid", "")
    again = _pay(order, charge="ch_1", amount=1, at=500)
    assert (again.stripe_charge_id, again.amount_pennies, again.paid_at) == (
        "ch_1",
        order.total_pennies,
        _at(),
    )
    assert _fresh(order).stripe_charge_id == "ch_1"
    _pay(order, charge="ch_other")
    assert Payment.objects.get().stripe_charge_id == "ch_1"
    assert Payment.objects.count() == 1


def test_a_charge_event_gives_its_payment_and_the_order_paid_by_it_the_charge(customer):
    assert payment_charge_attach(payment_intent="pi_1", charge="ch_1") is None
    order = _order(customer)
    _pay(order, charge="")
    payment = payment_charge_attach(payment_intent="pi_1", charge="ch_1")
    assert _fresh(payment).stripe_charge_id == "ch_1"
    assert _fresh(order).stripe_charge_id == "ch_1"
    payment_charge_attach(payment_intent="pi_1", charge="ch_2")
    assert (_fresh(payment).stripe_charge_id, _fresh(order).stripe_charge_id) == (
        "ch_1",
        "ch_1",
    )


def test_the_charge_of_a_second_payment_is_not_the_orders(customer):
    order = _order(customer)
    _pay(order, pi="pi_1", charge="")
    _pay(order, pi="pi_2", charge="", at=60)
    payment_charge_attach(payment_intent="pi_2", charge="ch_2")
    assert Payment.objects.get(stripe_payment_intent="pi_2").stripe_charge_id == "ch_2"
    assert _fresh(order).stripe_charge_id == ""
    _pay(order, pi="pi_2", charge="ch_2", at=60)
    assert _fresh(order).stripe_charge_id == ""


def test_a_pending_order_is_paid_by_its_payments_ids_and_time(customer):
    order = _order(customer)
    payment_record(
        payment_intent="",
        charge="ch_only",
        amount_pennies=order.total_pennies,
        currency=order.currency,
        paid_at=_at(30),
        order=order,
    )
    order = _fresh(order)
    assert (
        order.status,
        order.paid_at,
        order.stripe_payment_intent,
        order.stripe_charge_id,
    ) == (
        "paid",
        _at(30),
        "",
        "ch_only",
    )


def test_of_two_payments_of_one_second_the_smaller_stripe_id_pays(customer):
    order = _order(customer)
    _pay(order, pi="pi_b", charge="ch_b", at=10)
    _pay(order, pi="pi_a", charge="ch_a", at=10)
    assert Payment.objects.get(applied=True).stripe_payment_intent == "pi_a"
    case = PaymentException.objects.get()
    assert (case.kind, case.stripe_ref) == ("duplicate_payment", "pi_b")
    assert (
        case.message
        == f"Order {order.number} is paid by pi_a: refund this second payment."
    )
    assert _fresh(order).stripe_payment_intent == "pi_a"


def test_an_earlier_payment_arriving_later_pays_the_order_and_takes_its_refunds(
    customer,
):
    order = _order(customer)
    _pay(order, pi="pi_late", charge="ch_late", at=60)
    refund_record(
        obj={"id": "re_l", "amount": 100, "charge": "ch_late", "status": "succeeded"},
        seen_at=_at(70),
    )
    assert _fresh(order).refunded_pennies == 100
    payment_record(
        payment_intent="",
        charge="ch_early",
        amount_pennies=order.total_pennies,
        currency=order.currency,
        paid_at=_at(30),
        order=order,
    )
    order = _fresh(order)
    assert (
        order.status,
        order.paid_at,
        order.stripe_payment_intent,
        order.stripe_charge_id,
    ) == (
        "paid",
        _at(30),
        "",
        "ch_early",
    )
    assert (order.refunded_pennies, order.refund_status) == (0, "none")
    assert Payment.objects.get(applied=True).stripe_charge_id == "ch_early"
    late = Payment.objects.get(stripe_payment_intent="pi_late")
    assert (late.applied, late.problem) == (False, "duplicate_payment")
    assert AuditLog.objects.filter(event_type="order.payment_changed").count() == 1
    assert order.status_changes.filter(to_status="paid").count() == 1


def test_settling_again_changes_nothing(paid):
    payment = Payment.objects.get()
    with time_machine.travel(_at(5000), tick=False):
        assert payments_settle(order=_fresh(paid)) == payment
    assert _fresh(payment).updated_at != _at(5000)
    assert not AuditLog.objects.filter(event_type="order.refund_status").exists()


def test_payments_of_an_order_canceled_before_any_are_each_a_paid_after_cancel_case(
    customer,
):
    order = _order(customer)
    order_transition(order=order, to=Order.Status.CANCELED, by=By.OPS, note="asked")
    _pay(_fresh(order), pi="pi_1", charge="ch_1", at=10)
    _pay(_fresh(order), pi="pi_2", charge="ch_2", at=20)
    order = _fresh(order)
    assert (order.status, order.paid_at) == ("canceled", None)
    cases = PaymentException.objects.order_by("stripe_ref")
    message = f"Order {order.number} was canceled before this payment: refund it."
    assert [(c.kind, c.stripe_ref, c.message) for c in cases] == [
        ("paid_after_cancel", "pi_1", message),
        ("paid_after_cancel", "pi_2", message),
    ]
    assert set(Payment.objects.values_list("applied", "problem")) == {
        (False, "paid_after_cancel")
    }


def _expire(order, at):
    return order_transition(
        order=order,
        to=Order.Status.CANCELED,
        by=By.SYSTEM,
        note=CHECKOUT_EXPIRED,
        at=_at(at),
    )


def test_a_payment_made_before_its_checkout_expired_pays_the_order_after_all(customer):
    order = _order(customer)
    _expire(order, 100)
    _pay(_fresh(order), at=99)
    order = _fresh(order)
    assert (order.status, order.paid_at, order.canceled_at) == ("paid", _at(99), None)
    assert Payment.objects.get().applied is True
    assert [(c.to_status, c.note) for c in order.status_changes.order_by("pk")][
        -2:
    ] == [
        ("canceled", CHECKOUT_EXPIRED),
        ("paid", ""),
    ]


def test_a_payment_made_when_or_after_its_checkout_expired_is_paid_after_cancel(
    customer,
):
    for at in (100, 101):
        order = _order(customer)
        _expire(order, 100)
        payment = _pay(_fresh(order), pi=f"pi_{at}", charge=f"ch_{at}", at=at)
        assert (_fresh(order).status, payment.problem) == (
            "canceled",
            "paid_after_cancel",
        )


def test_a_payment_before_a_cancel_for_another_reason_is_paid_after_cancel(customer):
    order = _order(customer)
    order_transition(
        order=order, to=Order.Status.CANCELED, by=By.SYSTEM, note="other", at=_at(100)
    )
    _pay(_fresh(order), at=50)
    assert _fresh(order).status == "canceled"
    assert Payment.objects.get().problem == "paid_after_cancel"


def _oversold(customer):
    from django.utils import timezone

    from catalog.models import StockReservation

    variant = VariantFactory(stock=1)
    order = place_order(customer=customer, variants={variant: 1})
    StockReservation.objects.filter(holder=order.holder).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    other = place_order(customer=customer, variants={variant: 1})
    _pay(other, pi="pi_other", charge="ch_other")
    return order


def test_every_payment_of_an_oversold_order_is_an_oversell_case(customer):
    order = _oversold(customer)
    _pay(order, pi="pi_a", charge="ch_a", at=10)
    _pay(order, pi="pi_b", charge="ch_b", at=20)
    assert _fresh(order).status == "pending"
    cases = list(PaymentException.objects.order_by("stripe_ref"))
    assert [(c.kind, c.stripe_ref) for c in cases] == [
        ("oversell", "pi_a"),
        ("oversell", "pi_b"),
    ]
    for case in cases:
        assert case.message.startswith(f"Order {order.number} was paid but ")
        assert case.message.endswith(" Refund the customer.")
    assert set(
        Payment.objects.filter(order=order).values_list("applied", "problem")
    ) == {(False, "oversell")}


def test_a_case_of_a_payment_of_no_order_is_audited_on_the_payment():
    payment = _lone_intent("pi_9")
    exception_raise(
        kind="refund_failed", stripe_ref="re_9", message="m", payment=payment
    )
    exception_raise(kind="dispute", stripe_ref="dp_9", message="m")
    row = AuditLog.objects.get(event_type="payment_exception.refund_failed")
    assert (row.target_type, row.target_id) == ("payments.payment", str(payment.pk))
    case = PaymentException.objects.get(kind="dispute")
    row = AuditLog.objects.get(event_type="payment_exception.dispute")
    assert (row.target_type, row.target_id) == (
        "payments.paymentexception",
        str(case.pk),
    )
    again = exception_raise(kind="dispute", stripe_ref="dp_9", message="other")
    assert (again.pk, again.message) == (case.pk, "m")
    assert AuditLog.objects.filter(event_type="payment_exception.dispute").count() == 1


# --- a delayed payment processing (payments.py) ------------------------------------


def _processing(order, at, *, ended=False, pi="pi_1"):
    # as the handlers call it: `ended` only for a failure
    extra = {"ended": True} if ended else {}
    payment_processing(order=order, payment_intent=pi, at=_at(at), **extra)
    return _fresh(order).payment_processing_since


def _ended_event(kind, at, pi="pi_1"):
    StripeEvent.objects.create(
        event_id=f"evt_{kind}_{at}",
        type=kind,
        stripe_created=_at(at),
        object_id=pi,
        payload={},
    )


def test_a_processing_payment_shows_since_its_newest_news(customer):
    order = _order(customer)
    assert _processing(order, 100) == _at(100)
    assert _processing(order, 50) == _at(100)
    assert _processing(order, 100) == _at(100)
    assert _processing(order, 150) == _at(150)


def test_a_failure_ends_processing_dated_at_or_before_it(customer):
    order = _order(customer)
    _processing(order, 100)
    assert _processing(order, 99, ended=True) == _at(100)
    assert _processing(order, 100, ended=True) is None
    assert _processing(order, 50, ended=True) is None
    _processing(order, 200)
    assert _processing(order, 300, ended=True) is None


@pytest.mark.parametrize(
    "kind", ["payment_intent.payment_failed", "payment_intent.canceled"]
)
def test_processing_news_older_than_a_stored_failure_shows_nothing(customer, kind):
    order = _order(customer)
    _ended_event(kind, 100)
    assert _processing(order, 100) is None
    assert _processing(order, 99) is None
    assert _processing(order, 100, pi="pi_other") == _at(100)


def test_processing_news_newer_than_a_stored_failure_shows(customer):
    order = _order(customer)
    _ended_event("payment_intent.payment_failed", 100)
    _ended_event("payment_intent.succeeded", 300)
    assert _processing(order, 101) == _at(101)
    assert _processing(order, 301) == _at(301)


def test_a_paid_order_shows_no_processing(paid):
    assert _processing(paid, 100) is None


# --- Stripe's ids and text kept to the columns ---------------


def test_a_refunds_ids_come_from_its_payment_or_stay_empty(customer):
    payment_record(
        payment_intent="",
        charge="ch_7",
        amount_pennies=100,
        currency="GBP",
        paid_at=_at(),
        order=None,
    )
    refund = refund_record(
        obj={"id": "re_7", "amount": 10, "charge": "ch_7", "status": "pending"},
        seen_at=_at(100),
    )
    refund = _fresh(refund)
    assert (refund.stripe_charge_id, refund.stripe_payment_intent) == ("ch_7", "")
    _lone_intent("pi_8")
    refund = refund_record(
        obj={"id": "re_8", "amount": 10, "payment_intent": "pi_8", "status": "pending"},
        seen_at=_at(100),
    )
    refund = _fresh(refund)
    assert (refund.stripe_charge_id, refund.stripe_payment_intent) == ("", "pi_8")


def test_currencies_stripe_sends_are_kept_to_three_capitals(paid):
    refund = _fresh(_refund(currency="eurx"))
    dispute = _fresh(_dispute(currency="eurx"))
    assert (refund.currency, dispute.currency) == ("EUR", "EUR")


def test_a_refund_without_a_currency_of_a_payment_without_one_has_none():
    _record_invoice(_invoice(intent="pi_c", paid_at=60) | {"currency": None})
    assert Payment.objects.get().currency == ""
    refund = refund_record(
        obj={"id": "re_c", "amount": 10, "payment_intent": "pi_c", "status": "pending"},
        seen_at=_at(100),
    )
    assert _fresh(refund).currency == ""


def test_a_refund_names_the_request_with_its_id_whatever_key_its_metadata_gives(
    paid, ops_user
):
    request = _request(paid, ops_user, status="sent", stripe_refund_id="re_1")
    refund = _fresh(_refund(metadata={"refund_request": "rq_unknown"}))
    assert (refund.idempotency_key, refund.requested_by) == (
        request.idempotency_key,
        ops_user,
    )


def test_a_payment_recorded_without_a_stripe_customer_names_none(customer):
    payment = _pay(_order(customer))
    assert _fresh(payment).stripe_customer_id == ""


def test_paying_a_pending_order_takes_its_units_from_stock(customer):
    order = _order(customer, stock=5, quantity=2)
    variant = _variant_of(order)
    _pay(order)
    assert _stock(variant) == 3


def test_the_outcome_of_a_dispute_state_without_its_own_words_is_its_name():
    from payments.services.ledger.disputes import dispute_outcome

    assert dispute_outcome(Dispute(status="needs_response")) == "needs response"
    assert dispute_outcome(Dispute(status="won")) == "won: the funds were returned"


def test_a_payment_recorded_meanwhile_is_found_instead_of_a_second_one(customer):
    """What a delivery that lost the race to record a payment ends with."""
    from payments.services.ledger.payments import _create, _find_locked

    first = _lone_intent("pi_9")
    _lone_intent("pi_8")
    assert _find_locked("pi_9", "") == first
    assert _find_locked("pi_7", "") is None
    again = _create(
        payment_intent="pi_9",
        charge="",
        order=None,
        email="",
        source=None,
        stripe_customer="",
        amount_pennies=999,
        currency="GBP",
        paid_at=_at(60),
    )
    assert again == first
    assert Payment.objects.count() == 2
    assert AuditLog.objects.filter(event_type="payment.recorded").count() == 2


def test_an_expired_checkout_cancels_its_order_with_a_note_saying_so(customer):
    """The note ops and the customer read on the order's timeline, and the one the
    ledger looks for to pay the order after all."""
    from payments.handlers.checkout import expired
    from payments.tests.events import envelope

    order = _order(customer)
    Order.objects.filter(pk=order.pk).update(stripe_checkout_session_id="cs_1")
    expired(envelope("checkout.session.expired", {"id": "cs_1"}, created=BASE + 100))
    order = _fresh(order)
    change = order.status_changes.order_by("-pk").first()
    assert (order.status, order.canceled_at) == ("canceled", _at(100))
    assert (change.to_status, change.by, change.note) == (
        "canceled",
        "system",
        "checkout expired",
    )
    _pay(order, at=99)
    assert _fresh(order).status == "paid"


def test_a_refund_names_its_own_charge_before_its_payment_knows_it(customer):
    order = _order(customer)
    _pay(order, charge="")
    refund = refund_record(
        obj={
            "id": "re_1",
            "amount": 10,
            "charge": "ch_1",
            "payment_intent": "pi_1",
            "status": "pending",
        },
        seen_at=_at(100),
    )
    assert _fresh(refund).stripe_charge_id == "ch_1"
