import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from audit.models import AuditLog
from catalog.models import StockMovement, StockReservation, Variant
from catalog.selectors import stock_label, variants_with_availability
from catalog.services import stock as stock_service
from catalog.services.stock import (
    Shortfall,
    StockOversellError,
    StockUnavailable,
    reservations_expire,
    reserved_quantities,
    stock_adjust,
    stock_receive,
    stock_release,
    stock_reserve,
    stock_reserve_again,
    stock_restock,
    stock_restock_reverse,
    stock_sell,
)
from catalog.tests.factories import ProductFactory, VariantFactory
from core.exceptions import DomainError

pytestmark = pytest.mark.django_db


def _available(variant):
    return (
        variants_with_availability(Variant.objects.filter(pk=variant.pk))
        .get()
        .available
    )


def _ledger_sum(variant):
    return (
        StockMovement.objects.filter(variant=variant).aggregate(s=Sum("delta"))["s"]
        or 0
    )


def test_the_database_refuses_negative_stock():
    variant = VariantFactory(stock=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Variant.objects.filter(pk=variant.pk).update(stock_on_hand=-1)
    variant.refresh_from_db()
    assert variant.stock_on_hand == 2


def test_stock_adjust_writes_a_movement_and_an_audit_row(ops_user):
    variant = VariantFactory(stock=10)
    stock_adjust(variant=variant, delta=-3, note="water damage", actor=ops_user)
    assert variant.stock_on_hand == 7
    movement = StockMovement.objects.filter(variant=variant).latest("id")
    assert (movement.delta, movement.reason, movement.note, movement.actor) == (
        -3,
        "adjustment",
        "water damage",
        ops_user,
    )
    row = AuditLog.objects.get(event_type="stock.adjusted")
    assert row.actor == ops_user
    assert row.metadata == {
        "sku": variant.sku,
        "delta": -3,
        "before": 10,
        "after": 7,
        "note": "water damage",
    }


@pytest.mark.parametrize(
    ("delta", "note", "message"),
    [(-11, "count", "cannot remove 11"), (0, "x", "must change"), (5, " ", "Say why")],
)
def test_stock_adjust_refuses_bad_changes_and_writes_nothing(
    ops_user, delta, note, message
):
    variant = VariantFactory(stock=10)
    before = StockMovement.objects.count()
    with pytest.raises(DomainError, match=message):
        stock_adjust(variant=variant, delta=delta, note=note, actor=ops_user)
    assert StockMovement.objects.count() == before
    variant.refresh_from_db()
    assert variant.stock_on_hand == 10


def test_stock_on_hand_always_equals_the_sum_of_movements(ops_user):
    variant = VariantFactory(stock=12)
    stock_adjust(variant=variant, delta=5, note="delivery", actor=ops_user)
    stock_adjust(variant=variant, delta=-8, note="stocktake", actor=ops_user)
    variant.refresh_from_db()
    assert variant.stock_on_hand == _ledger_sum(variant) == 9


def test_reservations_reduce_availability_until_released():
    variant = VariantFactory(stock=5)
    stock_reserve(holder="order:1", quantities={variant.pk: 3})
    assert _available(variant) == 2
    with pytest.raises(StockUnavailable, match="Only 2 of"):
        stock_reserve(holder="order:2", quantities={variant.pk: 3})
    assert stock_release(holder="order:1") == 1
    assert _available(variant) == 5
    variant.refresh_from_db()
    assert variant.stock_on_hand == 5, "a reservation never moves stock on hand"


def test_a_reservation_stops_counting_at_its_expiry_and_the_sweep_marks_it(settings):
    settings.STOCK_RESERVATION_MINUTES = 30
    variant = VariantFactory(stock=1)
    start = timezone.now()
    stock_reserve(holder="order:1", quantities={variant.pk: 1}, now=start)
    assert _available(variant) == 0
    with pytest.raises(StockUnavailable, match="no longer available"):
        stock_reserve(holder="order:2", quantities={variant.pk: 1}, now=start)
    later = start + dt.timedelta(minutes=31)
    # Expired holds free the stock even before the sweep runs...
    stock_reserve(holder="order:2", quantities={variant.pk: 1}, now=later)
    # ...and the sweep marks them expired, audited.
    assert reservations_expire(now=later) == 1
    held = StockReservation.objects.get(holder="order:1")
    assert (held.status, held.closed_at) == ("expired", later)
    assert AuditLog.objects.filter(event_type="stock.reservations_expired").exists()
    assert reservations_expire(now=later) == 0


def test_expire_reservations_command_reports_and_releases(capsys):
    from django.core.management import call_command

    variant = VariantFactory(stock=3)
    stock_reserve(
        holder="order:9",
        quantities={variant.pk: 2},
        now=timezone.now() - dt.timedelta(hours=2),
    )
    call_command("expire_reservations")
    assert "released 1 expired reservation" in capsys.readouterr().out
    assert StockReservation.objects.get(holder="order:9").status == "expired"


def test_preorder_items_are_not_held_and_never_short():
    product = ProductFactory(is_preorder=True)
    variant = VariantFactory(product=product, stock=0)
    assert stock_reserve(holder="order:1", quantities={variant.pk: 4}) == []
    assert not StockReservation.objects.exists()


def test_a_shortfall_names_every_item_and_writes_no_reservation():
    a, b = VariantFactory(stock=1), VariantFactory(stock=0)
    with pytest.raises(StockUnavailable) as caught:
        stock_reserve(holder="order:1", quantities={a.pk: 2, b.pk: 1})
    assert [s.variant_id for s in caught.value.shortfalls] == sorted([a.pk, b.pk])
    assert not StockReservation.objects.exists()


@pytest.mark.parametrize(
    ("available", "preorder", "text", "tone"),
    [
        (50, False, "In stock", "ok"),
        (5, False, "Only 5 left", "warn"),
        (1, False, "Only 1 left", "warn"),
        (0, False, "Out of stock", "bad"),
        (-2, False, "Out of stock", "bad"),
        (0, True, "Preorder", "info"),
    ],
)
def test_stock_label(available, preorder, text, tone):
    label = stock_label(available=available, threshold=5, is_preorder=preorder)
    assert (label.text, label.tone) == (text, tone)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_for_the_last_unit_give_it_to_exactly_one(
    run_concurrently,
):
    variant = VariantFactory(stock=1)

    def attempt(i):
        stock_reserve(holder=f"order:{i}", quantities={variant.pk: 1})
        return "reserved"

    results = run_concurrently(8, attempt)
    assert results.count("reserved") == 1
    refusals = [r for r in results if r != "reserved"]
    assert len(refusals) == 7
    assert all("no longer available" in r for r in refusals)
    assert StockReservation.objects.filter(status="active").count() == 1


def test_the_expiry_task_is_scheduled_every_five_minutes_and_releases():
    from django_celery_beat.models import PeriodicTask

    from catalog.tasks import expire_reservations_task

    task = PeriodicTask.objects.get(task="catalog.expire_reservations")
    assert (task.interval.every, task.interval.period, task.enabled) == (
        5,
        "minutes",
        True,
    )
    variant = VariantFactory(stock=1)
    stock_reserve(
        holder="order:1",
        quantities={variant.pk: 1},
        now=timezone.now() - dt.timedelta(hours=1),
    )
    assert expire_reservations_task.apply().get() == 1
    assert StockReservation.objects.get(holder="order:1").status == "expired"


# --- the rules of stock, condition by condition ------------------------------------


def _variant(name="Sage Tee", stock=0, **product):
    return VariantFactory(
        product=ProductFactory(name=name, **product),
        option_values={"size": "M"},
        stock=stock,
    )


def _hold(variant, *, holder="order:1", quantity=1, status="active", expires_at=None):
    return StockReservation.objects.create(
        variant=variant,
        holder=holder,
        quantity=quantity,
        status=status,
        expires_at=expires_at or timezone.now() + dt.timedelta(minutes=30),
    )


def _status(reservation):
    reservation.refresh_from_db()
    return reservation.status, reservation.closed_at


def test_holding_is_active_and_unexpired_and_lapsed_is_active_and_past_expiry():
    variant, now = _variant(stock=9), timezone.now()
    live = _hold(variant, expires_at=now + dt.timedelta(seconds=1))
    at_expiry = _hold(variant, expires_at=now)
    _hold(variant, status="released", expires_at=now + dt.timedelta(hours=1))
    _hold(variant, status="consumed", expires_at=now + dt.timedelta(hours=1))
    _hold(variant, status="expired", expires_at=now + dt.timedelta(hours=1))
    assert list(StockReservation.objects.holding(now=now)) == [live]
    assert list(StockReservation.objects.lapsed(now=now)) == [at_expiry]


def test_shortfall_messages_are_exact():
    assert (
        Shortfall(1, "A-1", "Sage Tee — M", 2, available=0).message()
        == "Sage Tee — M is no longer available."
    )
    assert (
        Shortfall(1, "A-1", "Sage Tee — M", 3, available=1).message()
        == "Only 1 of Sage Tee — M left (you asked for 3)."
    )
    error = StockUnavailable(
        [Shortfall(1, "A", "Tee", 1, 0), Shortfall(2, "B", "Mug", 5, 2)]
    )
    assert (
        str(error)
        == "Tee is no longer available. Only 2 of Mug left (you asked for 5)."
    )
    assert [s.sku for s in error.shortfalls] == ["A", "B"]


def test_stock_receive_adds_units_through_a_received_movement(ops_user):
    variant = _variant(stock=2)
    returned = stock_receive(
        variant=variant, quantity=1, note="pallet 7", actor=ops_user
    )
    assert returned.stock_on_hand == 3
    movement = StockMovement.objects.filter(variant=variant).latest("id")
    assert (
        movement.delta,
        movement.reason,
        movement.note,
        movement.reference,
        movement.actor,
    ) == (1, "received", "pallet 7", "", ops_user)
    stock_receive(variant=variant, quantity=4, reason=StockMovement.Reason.IMPORT)
    imported = StockMovement.objects.filter(variant=variant).latest("id")
    assert (imported.reason, imported.note, imported.actor) == ("import", "", None)
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 7


@pytest.mark.parametrize("quantity", [0, -1])
def test_stock_receive_refuses_a_quantity_that_is_not_positive(quantity):
    variant = _variant(stock=2)
    with pytest.raises(DomainError) as caught:
        stock_receive(variant=variant, quantity=quantity)
    assert str(caught.value) == "Received quantity must be positive."
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 2


def test_stock_adjust_may_take_stock_to_exactly_zero_and_keeps_a_trimmed_note(
    ops_user,
):
    variant = _variant(stock=4)
    stock_adjust(variant=variant, delta=-4, note="  stocktake  ", actor=ops_user)
    assert variant.stock_on_hand == 0
    row = AuditLog.objects.get(event_type="stock.adjusted")
    assert (row.target_type, row.target_id, row.actor_role) == (
        "catalog.variant",
        str(variant.pk),
        "ops",
    )
    assert row.metadata == {
        "sku": variant.sku,
        "delta": -4,
        "before": 4,
        "after": 0,
        "note": "stocktake",
    }
    assert StockMovement.objects.filter(variant=variant).latest("id").note == (
        "stocktake"
    )


def test_stock_adjust_audits_an_increase(ops_user):
    variant = _variant(stock=1)
    stock_adjust(variant=variant, delta=6, note="found a box", actor=ops_user)
    assert AuditLog.objects.get(event_type="stock.adjusted").metadata == {
        "sku": variant.sku,
        "delta": 6,
        "before": 1,
        "after": 7,
        "note": "found a box",
    }


@pytest.mark.parametrize(
    ("delta", "note", "message"),
    [
        (-11, "count", "{sku} has 10 on hand: cannot remove 11."),
        (0, "x", "An adjustment must change the stock."),
        (5, " ", "Say why the stock is being adjusted."),
        (5, None, "Say why the stock is being adjusted."),
    ],
)
def test_stock_adjust_refusals_say_exactly_why(ops_user, delta, note, message):
    variant = _variant(stock=10)
    with pytest.raises(DomainError) as caught:
        stock_adjust(variant=variant, delta=delta, note=note, actor=ops_user)
    assert str(caught.value) == message.format(sku=variant.sku)
    assert not AuditLog.objects.filter(event_type="stock.adjusted").exists()


def test_stock_reserve_writes_holds_until_the_configured_expiry(settings):
    settings.STOCK_RESERVATION_MINUTES = 17
    a, b, now = _variant(stock=3), _variant(stock=5), timezone.now()
    holds = stock_reserve(holder="order:7", quantities={b.pk: 2, a.pk: 3}, now=now)
    assert [
        (h.variant_id, h.holder, h.quantity, h.status, h.expires_at)
        for h in StockReservation.objects.order_by("variant_id")
    ] == [
        (a.pk, "order:7", 3, "active", now + dt.timedelta(minutes=17)),
        (b.pk, "order:7", 2, "active", now + dt.timedelta(minutes=17)),
    ]
    assert sorted(h.quantity for h in holds) == [2, 3]


def test_stock_reserve_may_take_every_unit_other_holds_leave():
    variant = _variant(stock=5)
    _hold(variant, holder="order:1", quantity=2)
    stock_reserve(holder="order:2", quantities={variant.pk: 3})
    with pytest.raises(StockUnavailable) as caught:
        stock_reserve(holder="order:3", quantities={variant.pk: 1})
    assert str(caught.value) == "Sage Tee — M is no longer available."


@pytest.mark.parametrize("status", ["released", "expired", "consumed"])
def test_closed_reservations_hold_no_stock(status):
    variant = _variant(stock=2)
    _hold(variant, holder="order:1", quantity=2, status=status)
    stock_reserve(holder="order:2", quantities={variant.pk: 2})
    assert _available(variant) == 0


def test_a_lapsed_reservation_holds_no_stock_before_the_sweep():
    variant = _variant(stock=2)
    _hold(variant, quantity=2, expires_at=timezone.now() - dt.timedelta(seconds=1))
    stock_reserve(holder="order:2", quantities={variant.pk: 2})


def test_stock_reserve_shows_none_left_when_holds_exceed_stock_on_hand(ops_user):
    variant = _variant(stock=3)
    _hold(variant, quantity=3)
    stock_adjust(variant=variant, delta=-2, note="breakage", actor=ops_user)
    with pytest.raises(StockUnavailable) as caught:
        stock_reserve(holder="order:2", quantities={variant.pk: 1})
    assert str(caught.value) == "Sage Tee — M is no longer available."
    assert caught.value.shortfalls[0].available == 0


def test_stock_reserve_says_how_many_are_left():
    variant = _variant(stock=3)
    _hold(variant, quantity=1)
    with pytest.raises(StockUnavailable) as caught:
        stock_reserve(holder="order:2", quantities={variant.pk: 3})
    assert str(caught.value) == "Only 2 of Sage Tee — M left (you asked for 3)."
    shortfall = caught.value.shortfalls[0]
    assert (shortfall.variant_id, shortfall.sku, shortfall.requested) == (
        variant.pk,
        variant.sku,
        3,
    )


@pytest.mark.parametrize("inactive", ["variant", "product", "both"])
def test_an_inactive_variant_or_product_cannot_be_reserved(inactive):
    variant = _variant(stock=10)
    if inactive in ("variant", "both"):
        Variant.objects.filter(pk=variant.pk).update(active=False)
    if inactive in ("product", "both"):
        type(variant.product).objects.filter(pk=variant.product_id).update(active=False)
    with pytest.raises(StockUnavailable) as caught:
        stock_reserve(holder="order:1", quantities={variant.pk: 1})
    assert str(caught.value) == "Sage Tee — M is no longer available."
    assert caught.value.shortfalls[0].sku == variant.sku
    assert not StockReservation.objects.exists()


def test_an_inactive_item_does_not_hide_the_shortfalls_after_it():
    inactive = _variant(name="Old", stock=5, active=False)
    short = _variant(stock=1)
    with pytest.raises(StockUnavailable) as caught:
        stock_reserve(holder="order:1", quantities={inactive.pk: 1, short.pk: 2})
    assert str(caught.value) == (
        "Old — M is no longer available. Only 1 of Sage Tee — M left (you asked for 2)."
    )


def test_an_inactive_preorder_or_subscription_variant_cannot_be_reserved_either():
    preorder = _variant(name="Later", is_preorder=True, active=False)
    monthly = _variant(name="Box", billing_interval="month", active=False)
    with pytest.raises(StockUnavailable) as caught:
        stock_reserve(holder="order:1", quantities={preorder.pk: 1, monthly.pk: 1})
    assert len(caught.value.shortfalls) == 2


def test_an_unknown_variant_cannot_be_reserved():
    short = _variant(stock=1)
    with pytest.raises(StockUnavailable) as caught:
        stock_reserve(holder="order:1", quantities={0: 2, short.pk: 2})
    assert str(caught.value) == (
        "This item is no longer available. "
        "Only 1 of Sage Tee — M left (you asked for 2)."
    )
    shortfall = caught.value.shortfalls[0]
    assert (shortfall.variant_id, shortfall.sku, shortfall.requested) == (0, "", 2)


def test_subscription_items_are_not_held():
    variant = _variant(stock=0, billing_interval="month")
    assert stock_reserve(holder="order:1", quantities={variant.pk: 1}) == []
    assert not StockReservation.objects.exists()


def test_stock_reserve_holds_only_the_stocked_items_of_a_mixed_order():
    preorder = _variant(name="Later", is_preorder=True)
    stocked = _variant(stock=1)
    stock_reserve(holder="order:1", quantities={stocked.pk: 1, preorder.pk: 3})
    assert list(StockReservation.objects.values_list("variant_id", "quantity")) == [
        (stocked.pk, 1)
    ]


def test_reserved_quantities_sum_live_holds_per_variant():
    a, b, now = _variant(stock=9), _variant(stock=9), timezone.now()
    _hold(a, holder="order:1", quantity=2)
    _hold(a, holder="order:2", quantity=3)
    _hold(b, holder="order:1", quantity=4, status="released")
    _hold(b, holder="order:3", quantity=1, expires_at=now)
    assert reserved_quantities([a.pk, b.pk], now=now) == {a.pk: 5}
    assert reserved_quantities(iter([b.pk]), now=now) == {}


# --- releasing, expiring -----------------------------------------------------------


def test_stock_release_releases_only_the_holders_active_holds():
    variant, now = _variant(stock=9), timezone.now()
    active = _hold(variant, holder="order:1")
    lapsed = _hold(variant, holder="order:1", expires_at=now - dt.timedelta(hours=1))
    others = _hold(variant, holder="order:2")
    assert stock_release(holder="order:1", now=now) == 2
    assert _status(active) == ("released", now)
    assert _status(lapsed) == ("released", now)
    assert _status(others) == ("active", None)


@pytest.mark.parametrize("status", ["consumed", "expired", "released"])
def test_stock_release_does_not_rewrite_closed_holds(status):
    variant = _variant(stock=9)
    closed = _hold(variant, status=status)
    closed_at = timezone.now() - dt.timedelta(days=1)
    StockReservation.objects.filter(pk=closed.pk).update(closed_at=closed_at)
    assert stock_release(holder="order:1") == 0
    assert _status(closed) == (status, closed_at)


def test_stock_release_stamps_the_current_time_by_default():
    held = _hold(_variant(stock=1))
    before = timezone.now()
    stock_release(holder="order:1")
    status, closed_at = _status(held)
    assert status == "released" and before <= closed_at <= timezone.now()


def test_reservations_expire_closes_lapsed_holds_only_and_audits_the_count():
    variant, now = _variant(stock=9), timezone.now()
    lapsed = [_hold(variant, expires_at=now), _hold(variant, expires_at=now)]
    live = _hold(variant, expires_at=now + dt.timedelta(seconds=1))
    released = _hold(variant, status="released", expires_at=now)
    assert reservations_expire(now=now, actor_label="cli:root") == 2
    assert [_status(h) for h in lapsed] == [("expired", now)] * 2
    assert _status(live) == ("active", None)
    assert _status(released) == ("released", None)
    row = AuditLog.objects.get(event_type="stock.reservations_expired")
    assert (row.actor_label, row.metadata) == ("cli:root", {"expired": 2})


def test_reservations_expire_with_nothing_lapsed_writes_no_audit_row():
    _hold(_variant(stock=1))
    assert reservations_expire() == 0
    assert not AuditLog.objects.filter(event_type="stock.reservations_expired").exists()


def test_reservations_expire_is_audited_as_the_system_by_default():
    _hold(_variant(stock=1), expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert reservations_expire() == 1
    row = AuditLog.objects.get(event_type="stock.reservations_expired")
    assert (row.actor_label, row.actor) == ("system", None)


# --- reserving again ---------------------------------------------------------------


def test_stock_reserve_again_changes_nothing_while_live_holds_cover_the_order():
    variant, now = _variant(stock=5), timezone.now()
    held = _hold(variant, quantity=2, expires_at=now + dt.timedelta(seconds=1))
    preorder = _variant(name="Later", is_preorder=True)
    monthly = _variant(name="Box", billing_interval="month")
    quantities = {variant.pk: 2, preorder.pk: 1, monthly.pk: 1}
    assert stock_reserve_again(holder="order:1", quantities=quantities, now=now) is None
    assert list(StockReservation.objects.all()) == [held]
    assert _status(held) == ("active", None)


def test_stock_reserve_again_with_nothing_stocked_holds_nothing():
    preorder = _variant(name="Later", is_preorder=True)
    assert stock_reserve_again(holder="order:1", quantities={preorder.pk: 2}) is None
    assert not StockReservation.objects.exists()


def test_stock_reserve_again_replaces_lapsed_holds_for_the_full_quantities(settings):
    settings.STOCK_RESERVATION_MINUTES = 30
    a, b, now = _variant(stock=5), _variant(name="Mug", stock=5), timezone.now()
    lapsed = _hold(a, quantity=2, expires_at=now)
    live = _hold(b, quantity=1)
    others = _hold(a, holder="order:2", quantity=1, expires_at=now)
    holds = stock_reserve_again(
        holder="order:1", quantities={a.pk: 2, b.pk: 1}, now=now
    )
    assert _status(lapsed) == ("expired", now)
    assert _status(live) == ("released", now)
    assert _status(others) == ("active", None), "another holder's hold is its own"
    assert sorted((h.variant_id, h.quantity) for h in holds) == [(a.pk, 2), (b.pk, 1)]
    renewed = StockReservation.objects.holding(now=now).filter(holder="order:1")
    assert sorted(renewed.values_list("variant_id", "quantity", "expires_at")) == [
        (a.pk, 2, now + dt.timedelta(minutes=30)),
        (b.pk, 1, now + dt.timedelta(minutes=30)),
    ]


def test_stock_reserve_again_when_a_live_hold_is_short_of_the_quantity():
    variant, now = _variant(stock=5), timezone.now()
    short = _hold(variant, quantity=1)
    holds = stock_reserve_again(holder="order:1", quantities={variant.pk: 2}, now=now)
    assert _status(short) == ("released", now)
    assert [(h.variant_id, h.quantity) for h in holds] == [(variant.pk, 2)]
    assert _available(variant) == 3


def test_stock_reserve_again_ignores_closed_holds_when_judging_cover():
    variant, now = _variant(stock=5), timezone.now()
    _hold(variant, quantity=2, status="released")
    consumed = _hold(variant, quantity=2, status="consumed")
    holds = stock_reserve_again(holder="order:1", quantities={variant.pk: 2}, now=now)
    assert [h.quantity for h in holds] == [2]
    assert _status(consumed) == ("consumed", None)


def test_stock_reserve_again_refused_names_what_is_gone_and_closes_nothing():
    variant, now = _variant(stock=2), timezone.now()
    lapsed = _hold(variant, quantity=2, expires_at=now - dt.timedelta(minutes=1))
    _hold(variant, holder="order:2", quantity=1)
    with pytest.raises(StockUnavailable) as caught:
        stock_reserve_again(holder="order:1", quantities={variant.pk: 2}, now=now)
    assert str(caught.value) == "Only 1 of Sage Tee — M left (you asked for 2)."
    assert _status(lapsed) == ("active", None)
    assert StockReservation.objects.count() == 2


def test_stock_reserve_again_of_an_unknown_variant_is_refused():
    with pytest.raises(StockUnavailable, match="This item is no longer available"):
        stock_reserve_again(holder="order:1", quantities={987654: 1})


def test_stock_reserve_again_defaults_to_now():
    variant = _variant(stock=1)
    _hold(variant, expires_at=timezone.now() - dt.timedelta(seconds=1))
    holds = stock_reserve_again(holder="order:1", quantities={variant.pk: 1})
    assert holds[0].expires_at > timezone.now()


# --- selling and restocking ----------------------------------------------------------


def _movements(reason):
    return list(
        StockMovement.objects.filter(reason=reason)
        .order_by("variant_id")
        .values_list("variant_id", "delta", "reference")
    )


def test_stock_sell_takes_stocked_units_and_consumes_only_the_holders_active_holds():
    preorder = _variant(name="Later", is_preorder=True)
    monthly = _variant(name="Box", billing_interval="month")
    a, b = _variant(stock=3), _variant(name="Mug", stock=2)
    mine = _hold(a, holder="order:1", quantity=3)
    lapsed = _hold(b, holder="order:1", expires_at=timezone.now())
    released = _hold(b, holder="order:1", status="released")
    expired = _hold(b, holder="order:1", status="expired")
    others = _hold(a, holder="order:2")
    before = timezone.now()
    stock_sell(
        holder="order:1",
        quantities={a.pk: 3, b.pk: 2, preorder.pk: 4, monthly.pk: 1},
    )
    assert _movements("sale") == [(a.pk, -3, "order:1"), (b.pk, -2, "order:1")]
    assert set(StockMovement.objects.filter(reason="sale").values_list("note")) == {
        ("",)
    }
    assert Variant.objects.get(pk=a.pk).stock_on_hand == 0
    assert Variant.objects.get(pk=b.pk).stock_on_hand == 0
    for hold in (mine, lapsed):
        status, closed_at = _status(hold)
        assert status == "consumed" and before <= closed_at <= timezone.now()
    assert _status(released) == ("released", None)
    assert _status(expired) == ("expired", None)
    assert _status(others) == ("active", None)


def test_stock_sell_refuses_a_shortfall_with_an_exact_message_and_writes_nothing():
    a, b = _variant(stock=1), _variant(name="Mug", stock=0)
    held = _hold(a, holder="order:1")
    with pytest.raises(StockOversellError) as caught:
        stock_sell(holder="order:1", quantities={a.pk: 3, b.pk: 2})
    assert str(caught.value) == (
        f"Not enough stock to fulfil: {a.sku} short by 2, {b.sku} short by 2"
    )
    assert [(s.variant_id, s.available) for s in caught.value.shortfalls] == [
        (a.pk, 1),
        (b.pk, 0),
    ]
    assert not StockMovement.objects.filter(reason="sale").exists()
    assert _status(held) == ("active", None)
    assert Variant.objects.get(pk=a.pk).stock_on_hand == 1


def test_stock_sell_never_shorts_preorder_or_subscription_items():
    preorder = _variant(name="Later", is_preorder=True)
    monthly = _variant(name="Box", billing_interval="month")
    stock_sell(holder="order:1", quantities={preorder.pk: 2, monthly.pk: 1})
    assert not StockMovement.objects.filter(reason="sale").exists()


def test_stock_restock_returns_stocked_units_only(ops_user):
    c, d = _variant(name="Cup", stock=1), _variant(name="Jug", stock=1)
    preorder = _variant(name="Later", is_preorder=True)
    monthly = _variant(name="Box", billing_interval="month")
    a, b = _variant(stock=1), _variant(name="Mug", stock=1)
    stock_restock(
        holder="order:4",
        quantities={a.pk: 1, b.pk: 2, c.pk: 0, d.pk: -1, preorder.pk: 2, monthly.pk: 1},
        note="refund re_1",
        actor=ops_user,
    )
    assert _movements("refund_restock") == [(a.pk, 1, "order:4"), (b.pk, 2, "order:4")]
    movement = StockMovement.objects.filter(reason="refund_restock").first()
    assert (movement.note, movement.actor) == ("refund re_1", ops_user)
    assert [
        Variant.objects.get(pk=v.pk).stock_on_hand for v in (a, b, c, d, preorder)
    ] == [2, 3, 1, 1, 0]


def test_locking_variants_costs_the_same_queries_for_one_item_or_many():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    one = [_variant(stock=5)]
    many = [_variant(name=f"Tee {i}", stock=5) for i in range(4)]
    counts = []
    for holder, variants in (("order:1", one), ("order:2", many)):
        with CaptureQueriesContext(connection) as queries:
            stock_reserve(holder=holder, quantities={v.pk: 1 for v in variants})
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.postgres
def test_variants_are_locked_without_their_products():
    """A product row is shared by its variants and every storefront read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    variant = _variant(stock=5)
    with CaptureQueriesContext(connection) as queries:
        stock_reserve(holder="order:1", quantities={variant.pk: 1})
    locks = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]
    assert len(locks) == 1
    assert locks[0].endswith('FOR UPDATE OF "catalog_variant"')


# --- all or nothing ----------------------------------------------------------------


class ConnectionLost(Exception):
    pass


def _fail_on_movement(monkeypatch, number):
    real, calls = stock_service._move, []

    def move(**kwargs):
        calls.append(kwargs)
        if len(calls) == number:
            raise ConnectionLost
        return real(**kwargs)

    monkeypatch.setattr(stock_service, "_move", move)


def _lose_the_audit_row(monkeypatch):
    def record(**kwargs):
        raise ConnectionLost

    monkeypatch.setattr(stock_service, "audit_record", record)


def test_a_shortfall_is_a_value():
    import dataclasses

    shortfall = Shortfall(1, "A", "Tee", 2, available=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        shortfall.available = 5


def test_an_adjustment_without_its_audit_row_changes_no_stock(monkeypatch, ops_user):
    variant = _variant(stock=4)
    _lose_the_audit_row(monkeypatch)
    with pytest.raises(ConnectionLost):
        stock_adjust(variant=variant, delta=-1, note="breakage", actor=ops_user)
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 4
    assert _ledger_sum(variant) == 4


def test_an_expiry_sweep_without_its_audit_row_expires_nothing(monkeypatch):
    held = _hold(_variant(stock=1), expires_at=timezone.now())
    _lose_the_audit_row(monkeypatch)
    with pytest.raises(ConnectionLost):
        reservations_expire()
    assert _status(held) == ("active", None)


def test_a_sale_cut_short_takes_nothing_and_consumes_nothing(monkeypatch):
    a, b = _variant(stock=2), _variant(name="Mug", stock=2)
    held = _hold(a)
    _fail_on_movement(monkeypatch, 2)
    with pytest.raises(ConnectionLost):
        stock_sell(holder="order:1", quantities={a.pk: 1, b.pk: 1})
    assert not StockMovement.objects.filter(reason="sale").exists()
    assert Variant.objects.get(pk=a.pk).stock_on_hand == 2
    assert _status(held) == ("active", None)


def test_a_restock_cut_short_returns_nothing(monkeypatch):
    a, b = _variant(stock=2), _variant(name="Mug", stock=2)
    _fail_on_movement(monkeypatch, 2)
    with pytest.raises(ConnectionLost):
        stock_restock(holder="order:1", quantities={a.pk: 1, b.pk: 1}, note="refund")
    assert not StockMovement.objects.filter(reason="refund_restock").exists()
    assert Variant.objects.get(pk=a.pk).stock_on_hand == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_every_stock_write_runs_in_its_own_transaction(ops_user):
    """Outside any transaction a row lock is refused, so each write must open one."""
    variant, now = _variant(stock=5), timezone.now()
    stock_receive(variant=variant, quantity=1)
    stock_adjust(variant=variant, delta=-1, note="count", actor=ops_user)
    stock_reserve(holder="order:1", quantities={variant.pk: 1})
    stock_reserve_again(
        holder="order:1",
        quantities={variant.pk: 2},
        now=now + dt.timedelta(seconds=1),
    )
    stock_sell(holder="order:1", quantities={variant.pk: 2})
    stock_restock(holder="order:1", quantities={variant.pk: 1}, note="refund")
    stock_restock_reverse(holder="order:1", quantities={variant.pk: 1}, note="failed")
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 3 == _ledger_sum(variant)


# --- taking back a restock whose refund failed --------------------------------------


def test_stock_restock_reverse_takes_back_what_is_still_on_hand():
    zero, nothing = _variant(name="Cup", stock=3), _variant(name="Jug", stock=3)
    preorder = _variant(name="Later", is_preorder=True, stock=4)
    monthly = _variant(name="Box", billing_interval="month", stock=4)
    empty = _variant(name="Pot", stock=0)
    one, some = _variant(stock=5), _variant(name="Mug", stock=1)
    every = [zero, nothing, preorder, monthly, empty, one, some]
    asked = [0, -1, 2, 2, 2, 1, 3]
    stock_restock_reverse(
        holder="order:4",
        quantities={v.pk: q for v, q in zip(every, asked, strict=True)},
        note="refund re_1 failed",
    )
    assert _movements("restock_reversed") == [
        (one.pk, -1, "order:4"),
        (some.pk, -1, "order:4"),
    ]
    notes = StockMovement.objects.filter(reason="restock_reversed").values_list("note")
    assert set(notes) == {("refund re_1 failed",)}
    assert [Variant.objects.get(pk=v.pk).stock_on_hand for v in every] == [
        3,
        3,
        4,
        4,
        0,
        4,
        0,
    ]
