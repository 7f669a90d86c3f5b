"""The fulfilment service level and the queue's sorts and filters."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.tests.factories import VariantFactory
from orders.models import Order
from orders.ops_selectors import ops_late_count, ops_order_queue
from orders.service_level import late_cutoff
from orders.tests.factories import paid_order, place_order

LONDON = ZoneInfo("Europe/London")


def at(day: int, hour: int = 10) -> dt.datetime:
    """December 2026 in London: the 7th is a Monday."""
    return dt.datetime(2026, 12, day, hour, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("now", "cutoff"),
    [
        (at(9), at(7)),  # Wednesday 10:00 → Monday 10:00
        (at(8), at(4)),  # Tuesday → Friday: the weekend adds nothing
        (at(7), at(3)),  # Monday → Thursday
        (at(12), at(10, 0)),  # Saturday: the clock stands at Monday 00:00
        (at(13, 23), at(10, 0)),  # Sunday night: still
        (at(11, 23), at(9, 23)),  # Friday night → Wednesday night
    ],
)
def test_late_is_two_business_days_after_payment(now, cutoff):
    assert late_cutoff(now, 2) == cutoff


def test_the_setting_is_the_number_of_business_days(settings):
    settings.FULFILMENT_SERVICE_LEVEL_DAYS = 5
    assert late_cutoff(at(9)) == at(2)  # a whole working week back


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 12, 31)
    ),
    step=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=9)),
    days=st.integers(min_value=1, max_value=10),
)
def test_the_cutoff_never_moves_back_and_waits_at_least_the_days(start, step, days):
    first = start.replace(tzinfo=dt.UTC)
    later = first + step
    assert late_cutoff(first, days) <= late_cutoff(later, days)
    assert late_cutoff(first, days) <= first - dt.timedelta(days=days)


@pytest.fixture
def orders(customer):
    variant = VariantFactory(stock=50)
    now = timezone.now()
    made = {}
    for name, waited, total in [("fresh", 0, 1), ("stale", 9, 3), ("old", 20, 2)]:
        order = paid_order(customer=customer, variants={variant: total})
        Order.objects.filter(pk=order.pk).update(
            paid_at=now - dt.timedelta(days=waited),
            created_at=now - dt.timedelta(days=waited, minutes=5),
        )
        made[name] = order
    made["pending"] = place_order(customer=customer, variants={variant: 1})
    return made


@pytest.mark.django_db
def test_paid_orders_past_the_service_level_are_flagged_counted_and_filtered(
    client, ops_user, orders
):
    # Nine calendar days hold at least five business days, whatever today is.
    assert ops_late_count() == 2
    late = {o.number for o in ops_order_queue(show="late")}
    assert late == {orders["stale"].number, orders["old"].number}
    flags = {o.number: o.is_late for o in ops_order_queue()}
    assert flags[orders["fresh"].number] is False
    assert flags[orders["pending"].number] is False
    Order.objects.filter(pk=orders["old"].pk).update(status="fulfilled")
    assert ops_late_count() == 1  # fulfilled is never late
    client.force_login(ops_user)
    page = client.get(reverse("ops:queue")).content.decode()
    assert "Late (over 2 business days since payment)" in page
    assert page.count(">Late</span>") == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["pending", "fresh", "stale", "old"]),
        ("oldest", ["old", "stale", "fresh", "pending"]),
        ("waiting", ["old", "stale", "fresh"]),
        ("total_desc", ["stale", "old"]),
    ],
)
def test_the_queue_sorts(client, ops_user, orders, sort, expected):
    client.force_login(ops_user)
    response = client.get(reverse("ops:queue"), {"sort": sort, "status": ""})
    by_number = {o.number: name for name, o in orders.items()}
    rows = [by_number[o.number] for o in response.context["page"].object_list]
    assert rows[: len(expected)] == expected


@pytest.mark.django_db
def test_an_unknown_sort_keeps_the_other_filters(client, ops_user, orders):
    client.force_login(ops_user)
    response = client.get(reverse("ops:queue"), {"sort": "bogus", "status": "paid"})
    assert response.status_code == 200
    numbers = [o.number for o in response.context["page"].object_list]
    assert orders["pending"].number not in numbers and len(numbers) == 3


@pytest.mark.django_db
def test_the_queue_filters_refunded_and_disputed(client, ops_user, orders):
    Order.objects.filter(pk=orders["fresh"].pk).update(refund_status="partial")
    assert [o.number for o in ops_order_queue(show="refunded")] == [
        orders["fresh"].number
    ]
    assert list(ops_order_queue(show="disputed")) == []


@pytest.mark.django_db
def test_the_queue_offers_packing_slips_for_the_selection(client, ops_user, orders):
    client.force_login(ops_user)
    page = client.get(reverse("ops:queue")).content.decode()
    assert f'data-print-selection="{reverse("ops:packing_slips")}"' in page
