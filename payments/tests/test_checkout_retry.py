"""Paying (again) for a pending order: stock is held before a session opens, and
Stripe is called with no transaction open."""

import datetime as dt

import pytest
import stripe
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from audit.models import AuditLog
from catalog.models import Product, StockReservation, Variant
from catalog.selectors import variants_with_availability
from catalog.services.stock import StockUnavailable, reservations_expire
from catalog.tests.factories import ProductFactory, VariantFactory
from core.exceptions import DomainError
from orders.models import Order
from orders.tests.factories import place_order
from payments.gateway import CheckoutSession, OfflineGateway
from payments.gateway.guard import open_transaction
from payments.services import checkout as checkout_service
from payments.services.checkout import checkout_start

pytestmark = pytest.mark.django_db


class Gateway:
    """The offline gateway, watched: each call's attempt and whether a transaction
    of ours was open; `during` runs inside the call (another request meanwhile)."""

    def __init__(self, *, fail=None, during=None):
        self.calls, self.fail, self.during = [], fail, during
        self.expired = []

    def expire_checkout_session(self, *, session_id):
        self.expired.append((session_id, open_transaction()))

    def create_checkout_session(self, *, order, success_url, cancel_url, attempt):
        self.calls.append({"attempt": attempt, "in_transaction": open_transaction()})
        if self.during:
            self.during(order)
        if self.fail:
            raise self.fail
        return OfflineGateway().create_checkout_session(
            order=order, success_url=success_url, cancel_url=cancel_url, attempt=attempt
        )


@pytest.fixture
def gateway(monkeypatch):
    def use(**kwargs):
        watched = Gateway(**kwargs)
        monkeypatch.setattr(checkout_service, "get_gateway", lambda: watched)
        return watched

    return use


def _start(order) -> CheckoutSession:
    return checkout_start(order=order, success_url="/ok", cancel_url="/back")


def _variant(stock, name="Sage Tee", **product):
    return VariantFactory(
        product=ProductFactory(name=name, **product),
        option_values={"size": "M"},
        stock=stock,
    )


def _lapse(order, *, ago=dt.timedelta(minutes=1)):
    """The order's holds ran out (the sweep has not run yet)."""
    StockReservation.objects.filter(holder=order.holder).update(
        expires_at=timezone.now() - ago
    )


def _holds(order):
    return list(
        StockReservation.objects.filter(holder=order.holder)
        .order_by("id")
        .values_list("variant_id", "quantity", "status")
    )


def _audit(order, event_type):
    return [
        row.metadata
        for row in AuditLog.objects.filter(
            event_type=event_type, target_type="orders.order", target_id=str(order.pk)
        ).order_by("id")
    ]


def _available(variant):
    return variants_with_availability(Variant.objects.filter(pk=variant.pk)).get()


# --- holds ---------------------------------------------------------------------------


def test_paying_again_while_the_holds_are_live_changes_no_hold(customer, gateway):
    watched = gateway()
    variant = _variant(stock=5)
    order = place_order(customer=customer, variants={variant: 2})
    hold = StockReservation.objects.get(holder=order.holder)
    first, second = _start(order), _start(order)
    assert first.id != second.id
    assert list(StockReservation.objects.all()) == [hold]
    assert StockReservation.objects.get().expires_at == hold.expires_at, "not extended"
    assert [c["attempt"] for c in watched.calls] == [0, 1]
    # The first page is expired at Stripe, outside any transaction.
    assert watched.expired == [(first.id, None)]
    assert _audit(order, "payment.checkout_started") == [
        {"attempt": 0, "stock_reserved_again": False, "previous_session": ""},
        {"attempt": 1, "stock_reserved_again": False, "previous_session": first.id},
    ]
    assert _audit(order, "payment.checkout_opened") == [
        {"session": first.id, "attempt": 0, "stored": True},
        {"session": second.id, "attempt": 1, "stored": True},
    ]
    assert Order.objects.get(pk=order.pk).stripe_checkout_session_id == second.id


def test_paying_again_after_the_hold_lapsed_holds_the_stock_again(
    customer, gateway, settings
):
    gateway()
    settings.STOCK_RESERVATION_MINUTES = 30
    variant, preorder = _variant(stock=5), _variant(0, name="Later", is_preorder=True)
    order = place_order(customer=customer, variants={variant: 2, preorder: 1})
    _lapse(order)
    before = timezone.now()
    session = _start(order)
    assert _holds(order) == [(variant.pk, 2, "expired"), (variant.pk, 2, "active")]
    renewed = StockReservation.objects.get(holder=order.holder, status="active")
    assert renewed.expires_at >= before + dt.timedelta(minutes=30)
    assert _available(variant).available == 3
    assert Order.objects.get(pk=order.pk).stripe_checkout_session_id == session.id
    assert _audit(order, "payment.checkout_started") == [
        {"attempt": 0, "stock_reserved_again": True, "previous_session": ""}
    ]


def test_paying_again_after_the_sweep_expired_the_hold_holds_the_stock_again(
    customer, gateway
):
    gateway()
    variant = _variant(stock=1)
    order = place_order(customer=customer, variants={variant: 1})
    _lapse(order)
    assert reservations_expire() == 1
    _start(order)
    assert _holds(order) == [(variant.pk, 1, "expired"), (variant.pk, 1, "active")]


def test_a_preorder_only_order_pays_again_without_holds(customer, gateway):
    gateway()
    preorder = _variant(0, name="Later", is_preorder=True)
    order = place_order(customer=customer, variants={preorder: 3})
    _start(order)
    _start(order)
    assert not StockReservation.objects.exists()


# --- refusals ------------------------------------------------------------------------


def test_units_taken_while_the_hold_lapsed_refuse_the_retry_and_open_no_session(
    customer, gateway
):
    watched = gateway()
    variant = _variant(stock=1)
    order = place_order(customer=customer, variants={variant: 1})
    _lapse(order)
    place_order(customer=UserFactory(roles=["customer"]), variants={variant: 1})
    with pytest.raises(StockUnavailable) as caught:
        _start(order)
    assert str(caught.value) == "Sage Tee — M is no longer available."
    assert watched.calls == []
    assert _holds(order) == [(variant.pk, 1, "active")], "left to the sweep"
    assert Order.objects.get(pk=order.pk).stripe_checkout_session_id == ""
    assert _audit(order, "payment.checkout_started") == []
    assert _available(variant).available == 0


def test_a_retry_says_how_many_units_are_left(customer, gateway):
    gateway()
    variant = _variant(stock=3)
    order = place_order(customer=customer, variants={variant: 3})
    _lapse(order)
    place_order(customer=UserFactory(roles=["customer"]), variants={variant: 2})
    with pytest.raises(StockUnavailable) as caught:
        _start(order)
    assert str(caught.value) == "Only 1 of Sage Tee — M left (you asked for 3)."


def test_a_retry_for_a_product_withdrawn_since_is_refused(customer, gateway):
    gateway()
    variant = _variant(stock=3)
    order = place_order(customer=customer, variants={variant: 1})
    _lapse(order)
    Product.objects.filter(pk=variant.product_id).update(active=False)
    with pytest.raises(StockUnavailable, match="Sage Tee — M is no longer available"):
        _start(order)


def test_the_customer_sees_why_on_the_order_page(client, customer):
    variant = _variant(stock=1)
    order = place_order(customer=customer, variants={variant: 1})
    _lapse(order)
    place_order(customer=UserFactory(roles=["customer"]), variants={variant: 1})
    client.force_login(customer)
    response = client.post(reverse("payments:pay", args=[order.number]), follow=True)
    assert response.redirect_chain == [(order.get_absolute_url(), 302)]
    assert "Sage Tee — M is no longer available." in response.content.decode()


@pytest.mark.parametrize("status", ["paid", "canceled"])
def test_an_order_that_is_not_pending_opens_no_session(customer, gateway, status):
    watched = gateway()
    variant = _variant(stock=2)
    order = place_order(customer=customer, variants={variant: 1})
    Order.objects.filter(pk=order.pk).update(status=status)
    _lapse(order)
    with pytest.raises(DomainError) as caught:
        _start(order)
    assert str(caught.value) == f"Order {order.number} is {status}."
    assert watched.calls == []
    assert _holds(order) == [(variant.pk, 1, "active")]


# --- Stripe, outside the transaction -------------------------------------------------


def test_stripe_is_called_with_no_transaction_open(customer, gateway):
    watched = gateway()
    order = place_order(customer=customer, variants={_variant(stock=2): 1})
    _lapse(order)
    _start(order)
    assert watched.calls == [{"attempt": 0, "in_transaction": None}]


def test_a_stripe_error_leaves_the_order_pending_with_its_new_holds(customer, gateway):
    gateway(fail=stripe.APIConnectionError("Network down"))
    variant = _variant(stock=2)
    order = place_order(customer=customer, variants={variant: 2})
    _lapse(order)
    with pytest.raises(DomainError) as caught:
        _start(order)
    assert str(caught.value) == (
        "The payment page could not be opened: Network down. Try again in a moment."
    )
    assert isinstance(caught.value.__cause__, stripe.StripeError)
    order.refresh_from_db()
    assert (order.status, order.stripe_checkout_session_id) == ("pending", "")
    assert _holds(order) == [(variant.pk, 2, "expired"), (variant.pk, 2, "active")]
    assert _audit(order, "payment.checkout_opened") == []
    # The next Pay is a new attempt, under a new idempotency key, on the same holds.
    watched = gateway()
    _start(order)
    assert watched.calls[0]["attempt"] == 1
    assert _holds(order) == [(variant.pk, 2, "expired"), (variant.pk, 2, "active")]


class ProcessKilled(BaseException):
    """The worker died mid-request: nothing after this point ran."""


def test_a_crash_while_stripe_answers_leaves_the_next_pay_a_new_attempt(
    customer, gateway
):
    variant = _variant(stock=2)
    order = place_order(customer=customer, variants={variant: 1})
    gateway(fail=ProcessKilled())
    with pytest.raises(ProcessKilled):
        _start(order)
    watched = gateway()
    session = _start(order)
    assert watched.calls[0]["attempt"] == 1
    assert Order.objects.get(pk=order.pk).stripe_checkout_session_id == session.id
    assert _holds(order) == [(variant.pk, 1, "active")]


def test_a_crash_before_the_session_is_stored_leaves_the_next_pay_a_new_attempt(
    customer, gateway, monkeypatch
):
    watched = gateway()
    order = place_order(customer=customer, variants={_variant(stock=2): 1})

    def crash(**kwargs):
        raise ProcessKilled

    with monkeypatch.context() as patched:
        patched.setattr(checkout_service, "_session_store", crash)
        with pytest.raises(ProcessKilled):
            _start(order)
    assert Order.objects.get(pk=order.pk).stripe_checkout_session_id == ""
    session = _start(order)
    assert [c["attempt"] for c in watched.calls] == [0, 1]
    assert Order.objects.get(pk=order.pk).stripe_checkout_session_id == session.id


def test_attempts_count_on_from_sessions_opened_before_this_change(customer, gateway):
    watched = gateway()
    order = place_order(customer=customer, variants={_variant(stock=2): 1})
    for session in ("cs_old_0", "cs_old_1"):
        AuditLog.objects.create(
            event_type="payment.checkout_started",
            target_type="orders.order",
            target_id=str(order.pk),
            metadata={"session": session},
        )
    _start(order)
    assert watched.calls[0]["attempt"] == 2


def test_an_order_paid_while_stripe_answered_keeps_its_session(customer, gateway):
    def paid_in_another_tab(order):
        Order.objects.filter(pk=order.pk).update(
            status="paid", stripe_checkout_session_id="cs_paid"
        )

    gateway(during=paid_in_another_tab)
    order = place_order(customer=customer, variants={_variant(stock=2): 1})
    with pytest.raises(DomainError) as caught:
        _start(order)
    assert str(caught.value) == f"Order {order.number} is paid."
    assert Order.objects.get(pk=order.pk).stripe_checkout_session_id == "cs_paid"
    [opened] = _audit(order, "payment.checkout_opened")
    assert opened["stored"] is False and opened["attempt"] == 0


@pytest.mark.postgres
def test_the_order_is_locked_before_its_variants(customer, gateway):
    """One lock order for every path: Order → … → Variant (payments/locks.py)."""
    gateway()
    order = place_order(customer=customer, variants={_variant(stock=2): 1})
    _lapse(order)
    with CaptureQueriesContext(connection) as queries:
        _start(order)
    locked = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]
    assert len(locked) >= 3
    assert 'FROM "orders_order"' in locked[0]
    assert all('FOR UPDATE OF "catalog_variant"' in sql for sql in locked[1:-1])
    # Storing the session is a transaction of its own that locks the order alone.
    assert 'FROM "orders_order"' in locked[-1]


# --- many at once, on PostgreSQL -----------------------------------------------------


def _pending_order_with_a_lapsed_hold(variant):
    order = place_order(customer=UserFactory(roles=["customer"]), variants={variant: 1})
    _lapse(order, ago=dt.timedelta(minutes=5))
    return order


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_retries_on_lapsed_holds_for_three_units_never_oversell_live_holds(
    run_concurrently,
):
    variant = _variant(stock=5)
    retrying = [_pending_order_with_a_lapsed_hold(variant) for _ in range(16)]
    holding = [
        place_order(customer=UserFactory(roles=["customer"]), variants={variant: 1})
        for _ in range(2)
    ]
    assert _available(variant).available == 3

    def pay_again(i):
        try:
            outcome = f"opened {_start(retrying[i]).id}"
        except DomainError as exc:
            outcome = f"refused: {exc}"
        return outcome, _available(variant).available

    results = run_concurrently(16, pay_again)
    outcomes = [outcome for outcome, _ in results]
    opened = [o for o in outcomes if o.startswith("opened")]
    refused = [o for o in outcomes if o.startswith("refused")]
    assert len(opened) == 3, outcomes
    assert refused == ["refused: Sage Tee — M is no longer available."] * 13
    assert all(available >= 0 for _, available in results)
    now = timezone.now()
    live = StockReservation.objects.holding(now=now)
    for order in holding:
        assert live.filter(holder=order.holder, quantity=1).count() == 1
    on_hand = Variant.objects.get(pk=variant.pk).stock_on_hand
    assert on_hand == 5
    assert on_hand - sum(live.values_list("quantity", flat=True)) == 0
    assert _available(variant).available == 0
    sessions = Order.objects.exclude(stripe_checkout_session_id="")
    winners = {o.holder for o in sessions.filter(pk__in=[o.pk for o in retrying])}
    assert len(winners) == 3
    assert (
        set(
            live.exclude(holder__in=[o.holder for o in holding]).values_list(
                "holder", flat=True
            )
        )
        == winners
    )
    assert AuditLog.objects.filter(event_type="payment.checkout_opened").count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_order_paid_again_twice_at_once_takes_one_hold(run_concurrently):
    variant = _variant(stock=1)
    order = _pending_order_with_a_lapsed_hold(variant)
    results = run_concurrently(2, lambda i: _start(order).id)
    assert len(set(results)) == 2 and all(r.startswith("cs_") for r in results)
    assert StockReservation.objects.holding().filter(holder=order.holder).count() == 1
    started = [
        (row["attempt"], row["stock_reserved_again"])
        for row in _audit(order, "payment.checkout_started")
    ]
    assert sorted(started) == [(0, True), (1, False)]
    # The later attempt's session is the order's, whichever committed last.
    opened = {r["attempt"]: r for r in _audit(order, "payment.checkout_opened")}
    assert [opened[0]["stored"], opened[1]["stored"]] == [False, True] or (
        opened[0]["stored"] and opened[1]["stored"]
    )
    assert (
        Order.objects.get(pk=order.pk).stripe_checkout_session_id
        == (opened[1]["session"])
    )
