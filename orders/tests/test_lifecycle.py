import itertools
import re
from pathlib import Path

import pytest
from django.conf import settings

from audit.models import AuditLog
from catalog.models import StockReservation
from catalog.tests.factories import VariantFactory
from core.exceptions import IllegalTransition
from orders.models import Order, OrderStatusChange
from orders.services.lifecycle import TRANSITIONS, By, allowed_targets, order_transition
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db
S = Order.Status
ALL_BY = [By.CUSTOMER, By.OPS, By.PAYMENTS, By.SYSTEM]
LEGAL = {(t.source, t.target, by) for t in TRANSITIONS for by in t.by}


def _order_in(status, customer, refund_status="none"):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    # Reach the starting state only through legal transitions.
    path = {
        S.PENDING: [],
        S.PAID: [S.PAID],
        S.FULFILLED: [S.PAID, S.FULFILLED],
        S.CANCELED: [S.CANCELED],
    }[status]
    for step in path:
        by = {S.PAID: By.PAYMENTS, S.FULFILLED: By.OPS, S.CANCELED: By.CUSTOMER}[step]
        order = order_transition(order=order, to=step, by=by)
    if refund_status != "none":
        Order.objects.filter(pk=order.pk).update(
            refund_status=refund_status, refunded_pennies=order.total_pennies
        )
        order.refresh_from_db()
    return order


@pytest.mark.parametrize(
    ("source", "target", "by"),
    sorted(
        (s, t, b)
        for s, t, b in itertools.product(S.values, S.values, ALL_BY)
        if s != t and (s, t) != (S.PAID, S.CANCELED)
    ),
)
def test_every_transition_is_legal_exactly_when_the_table_says(
    customer, source, target, by
):
    order = _order_in(source, customer)
    changes = OrderStatusChange.objects.filter(order=order).count()
    if (source, target, by) in LEGAL:
        order_transition(order=order, to=target, by=by, actor=customer)
        order.refresh_from_db()
        assert order.status == target
        last = OrderStatusChange.objects.filter(order=order).latest("id")
        assert (last.from_status, last.to_status, last.by) == (source, target, by)
        assert AuditLog.objects.filter(
            event_type=f"order.{target}", target_id=str(order.pk)
        ).exists()
    else:
        with pytest.raises(IllegalTransition):
            order_transition(order=order, to=target, by=by)
        order.refresh_from_db()
        assert order.status == source
        assert OrderStatusChange.objects.filter(order=order).count() == changes


@pytest.mark.parametrize("by", [By.OPS, By.PAYMENTS])
def test_a_paid_order_is_canceled_only_with_a_full_refund(customer, by):
    partly = _order_in(S.PAID, customer, refund_status="partial")
    with pytest.raises(IllegalTransition, match="full refund"):
        order_transition(order=partly, to=S.CANCELED, by=by)
    fully = _order_in(S.PAID, customer, refund_status="full")
    assert order_transition(order=fully, to=S.CANCELED, by=by).status == S.CANCELED


def test_customers_cannot_cancel_a_paid_order_even_fully_refunded(customer):
    order = _order_in(S.PAID, customer, refund_status="full")
    with pytest.raises(IllegalTransition):
        order_transition(order=order, to=S.CANCELED, by=By.CUSTOMER)


def test_canceling_a_pending_order_releases_its_reservations(customer):
    order = _order_in(S.PENDING, customer)
    assert StockReservation.objects.get(holder=order.holder).status == "active"
    order_transition(order=order, to=S.CANCELED, by=By.CUSTOMER, actor=customer)
    assert StockReservation.objects.get(holder=order.holder).status == "released"
    order.refresh_from_db()
    assert order.canceled_at is not None


def test_entering_a_status_stamps_its_time(customer):
    order = _order_in(S.PAID, customer)
    assert order.paid_at is not None
    fulfilled = order_transition(order=order, to=S.FULFILLED, by=By.OPS)
    assert fulfilled.fulfilled_at >= fulfilled.paid_at


def test_allowed_targets_follow_the_table(customer):
    order = _order_in(S.PAID, customer)
    assert allowed_targets(order, By.OPS) == [S.FULFILLED]
    assert allowed_targets(order, By.CUSTOMER) == []


def test_the_database_refuses_an_unknown_status(customer):
    from django.db import IntegrityError, transaction

    order = _order_in(S.PENDING, customer)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(status="cancelled")


def _diagram_edges():
    text = (Path(settings.BASE_DIR) / "docs" / "order_state_machine.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", text, re.S).group(1)
    edges = set()
    for source, target, label in re.findall(r"(\w+) --> (\w+): (.+)", block):
        full = "(full refund)" in label
        reopens = "(refund failed)" in label
        plain = label.replace("(full refund)", "").replace("(refund failed)", "")
        who = frozenset(w.strip() for w in plain.split(","))
        edges.add((source, target, who, full, reopens))
    return edges


def test_the_documented_diagram_matches_the_transition_table():
    table = {
        (str(t.source), str(t.target), t.by, t.requires_full_refund, t.reopens)
        for t in TRANSITIONS
    }
    assert _diagram_edges() == table


@pytest.mark.django_db(transaction=True)
def test_already_locked_is_refused_outside_the_transaction_that_locked(customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=2): 1})

    with pytest.raises(ValueError, match="needs the transaction that locked it"):
        order_transition(order=order, to="paid", by=By.PAYMENTS, already_locked=True)

    order.refresh_from_db()
    assert order.status == "pending"
    assert not OrderStatusChange.objects.filter(to_status="paid").exists()


def test_already_locked_moves_the_locked_row_without_reading_it_again(customer):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    order = place_order(customer=customer, variants={VariantFactory(stock=2): 1})
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        with CaptureQueriesContext(connection) as queries:
            order_transition(
                order=locked, to="paid", by=By.PAYMENTS, already_locked=True
            )

    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in reads if '"orders_order"' in sql.split("WHERE")[0]]
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_at is not None
