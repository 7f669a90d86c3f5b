import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from audit.models import AuditLog
from catalog.models import StockMovement, StockReservation, Variant
from catalog.selectors import stock_label, variants_with_availability
from catalog.services.stock import (
    StockUnavailable,
    reservations_expire,
    stock_adjust,
    stock_release,
    stock_reserve,
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
