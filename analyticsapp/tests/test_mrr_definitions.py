"""The MRR definitions (docs/kpi_definitions.md, MRR section), one rule a test."""

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from analyticsapp.models import MrrDailySnapshot
from analyticsapp.services.mrr import mrr_build
from subscriptions.services import subscription_apply

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
CREATED, UPDATED, DELETED = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
_events = itertools.count(1)


def london(month, day, hour=12, minute=0, second=0, year=2026) -> int:
    """A Stripe timestamp for a London wall-clock time."""
    moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=LONDON)
    return int(moment.timestamp())


def event(kind, sub_id, customer, status, created, *, amount=2000,
          interval="month", count=1, quantity=1, currency="gbp", ended_at=None,
          event_id=None):  # fmt: skip
    """A Stripe subscription event of one item (API version 2025-03-31.basil)."""
    if kind == DELETED and ended_at is None:
        ended_at = created
    obj = {
        "id": sub_id, "object": "subscription", "customer": customer,
        "status": status, "currency": currency, "created": created,
        "start_date": created, "current_period_start": created,
        "current_period_end": created + 30 * 86400, "ended_at": ended_at,
        "canceled_at": ended_at, "cancel_at_period_end": False,
        "items": {"object": "list", "data": [{
            "id": f"si_{sub_id}", "quantity": quantity,
            "price": {"id": f"price_{amount}_{interval}_{count}", "currency": currency,
                      "unit_amount": amount,
                      "recurring": {"interval": interval, "interval_count": count}},
        }]},
    }  # fmt: skip
    return {
        "id": event_id or f"evt_def{next(_events):06d}", "object": "event",
        "type": kind, "created": created, "api_version": "2025-03-31.basil",
        "data": {"object": obj},
    }  # fmt: skip


def apply(*events):
    for payload in events:
        subscription_apply(payload)


def build(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 12, 31), run=None):
    mrr_build(date_from=date_from, date_to=date_to, run=run)
    return {row.day: row for row in MrrDailySnapshot.objects.all()}


def movements(row):
    return {
        name: getattr(row, f"{name}_pennies")
        for name in ("new", "expansion", "contraction", "churn", "reactivation")
        if getattr(row, f"{name}_pennies")
    }


def test_a_subscription_in_another_currency_is_not_store_mrr():
    apply(
        event(CREATED, "sub_gbp", "cus_A", "active", london(3, 2), amount=1000),
        event(CREATED, "sub_eur", "cus_B", "active", london(3, 2), currency="eur"),
        event(CREATED, "sub_eur2", "cus_A", "active", london(3, 3), currency="eur"),
        event(DELETED, "sub_eur", "cus_B", "canceled", london(3, 9), currency="eur"),
    )
    days = build()
    march_2, march_3 = days[dt.date(2026, 3, 2)], days[dt.date(2026, 3, 3)]
    assert (march_2.mrr_pennies, march_2.paying_customers) == (1000, 1)
    assert (march_2.active_subscriptions, march_2.other_currency_subscriptions) == (
        1,
        1,
    )
    assert movements(march_2) == {"new": 1000} and march_2.new_customers == 1
    assert movements(march_3) == {} and march_3.mrr_pennies == 1000
    assert march_3.other_currency_subscriptions == 2
    march_9 = days[dt.date(2026, 3, 9)]
    assert movements(march_9) == {} and march_9.churned_customers == 0
    assert march_9.other_currency_subscriptions == 1


def test_mrr_that_starts_and_stops_within_a_day_is_not_a_first_mrr():
    apply(
        event(CREATED, "sub_1", "cus_A", "active", london(2, 10, 10)),
        event(DELETED, "sub_1", "cus_A", "canceled", london(2, 10, 15)),
        event(CREATED, "sub_2", "cus_A", "active", london(2, 24, 9), amount=3000),
    )
    days = build()
    assert movements(days[dt.date(2026, 2, 10)]) == {}
    assert days[dt.date(2026, 2, 10)].new_customers == 0
    assert movements(days[dt.date(2026, 2, 24)]) == {"new": 3000}
    assert days[dt.date(2026, 2, 24)].new_customers == 1


def test_a_customer_back_after_a_day_without_mrr_is_a_reactivation():
    apply(
        event(CREATED, "sub_1", "cus_A", "active", london(2, 10, 10)),
        event(DELETED, "sub_1", "cus_A", "canceled", london(2, 11, 15)),
        event(CREATED, "sub_2", "cus_A", "active", london(2, 24, 9), amount=3000),
    )
    days = build()
    assert movements(days[dt.date(2026, 2, 10)]) == {"new": 2000}
    assert movements(days[dt.date(2026, 2, 11)]) == {"churn": 2000}
    assert movements(days[dt.date(2026, 2, 24)]) == {"reactivation": 3000}
    assert days[dt.date(2026, 2, 24)].new_customers == 0


def test_churn_is_dated_when_the_subscription_ended_not_by_the_event():
    ended = london(6, 30, 23, 59, 59)
    apply(
        event(CREATED, "sub_1", "cus_A", "active", london(6, 1)),
        # Stripe stamped the event two seconds later: 1 July in London.
        event(DELETED, "sub_1", "cus_A", "canceled", ended + 2, ended_at=ended),
    )
    days = build()
    assert movements(days[dt.date(2026, 6, 30)]) == {"churn": 2000}
    assert days[dt.date(2026, 6, 30)].mrr_pennies == 0
    assert movements(days[dt.date(2026, 7, 1)]) == {}


def test_changes_in_the_same_second_apply_in_the_order_of_a_subscriptions_life():
    second = london(4, 20, 23, 59, 59)
    active = event(UPDATED, "sub_1", "cus_A", "active", second, amount=5000,
                   event_id="evt_zzz")  # fmt: skip
    canceled = event(DELETED, "sub_1", "cus_A", "canceled", second,
                     event_id="evt_aaa")  # fmt: skip
    apply(event(CREATED, "sub_1", "cus_A", "active", london(4, 1)), canceled, active)
    days = build()
    # The larger event id does not win against a later state in the same second.
    assert movements(days[dt.date(2026, 4, 20)]) == {"churn": 2000}
    assert days[dt.date(2026, 4, 20)].mrr_pennies == 0


@pytest.mark.parametrize("status", ["unpaid", "paused"])
def test_unpaid_and_paused_are_churn_and_coming_back_is_reactivation(status):
    apply(
        event(CREATED, "sub_1", "cus_A", "active", london(5, 1)),
        event(UPDATED, "sub_1", "cus_A", status, london(5, 10)),
        event(UPDATED, "sub_1", "cus_A", "active", london(5, 20)),
        event(CREATED, "sub_2", "cus_B", "active", london(5, 1), amount=1000),
        event(CREATED, "sub_3", "cus_B", "active", london(5, 1), amount=500),
        event(UPDATED, "sub_3", "cus_B", status, london(5, 12), amount=500),
    )
    days = build()
    may_10 = days[dt.date(2026, 5, 10)]
    assert movements(may_10) == {"churn": 2000} and may_10.churned_customers == 1
    assert may_10.active_subscriptions == 2
    # One of B's two subscriptions stops billing: contraction, not churn.
    may_12 = days[dt.date(2026, 5, 12)]
    assert movements(may_12) == {"contraction": 500}
    assert may_12.churned_customers == 0
    assert movements(days[dt.date(2026, 5, 20)]) == {"reactivation": 2000}


def test_past_due_still_counts():
    apply(
        event(CREATED, "sub_1", "cus_A", "active", london(5, 1)),
        event(UPDATED, "sub_1", "cus_A", "past_due", london(5, 10)),
    )
    may_10 = build()[dt.date(2026, 5, 10)]
    assert (may_10.mrr_pennies, movements(may_10)) == (2000, {})
    assert may_10.active_subscriptions == 1


def test_cancelling_one_of_several_subscriptions_is_contraction_the_last_is_churn():
    apply(
        event(CREATED, "sub_1", "cus_A", "active", london(3, 1), amount=2000),
        event(CREATED, "sub_2", "cus_A", "active", london(3, 1), amount=1500),
        event(DELETED, "sub_1", "cus_A", "canceled", london(3, 10), amount=2000),
        event(DELETED, "sub_2", "cus_A", "canceled", london(3, 20), amount=1500),
    )
    days = build()
    march_10, march_20 = days[dt.date(2026, 3, 10)], days[dt.date(2026, 3, 20)]
    assert movements(march_10) == {"contraction": 2000}
    assert (march_10.churned_customers, march_10.paying_customers) == (0, 1)
    assert movements(march_20) == {"churn": 1500}
    assert (march_20.churned_customers, march_20.paying_customers) == (1, 0)


def test_movements_are_netted_per_customer_and_day():
    apply(
        event(CREATED, "sub_1", "cus_A", "active", london(3, 1), amount=2000),
        event(UPDATED, "sub_1", "cus_A", "active", london(3, 5, 9), amount=4000),
        event(UPDATED, "sub_1", "cus_A", "active", london(3, 5, 17), amount=2500),
    )
    assert movements(build()[dt.date(2026, 3, 5)]) == {"expansion": 500}


def test_a_fortnightly_price_counts_its_exact_half_penny_up():
    apply(event(CREATED, "sub_1", "cus_A", "active", london(3, 1), amount=999,
                interval="week", count=2))  # fmt: skip
    assert build()[dt.date(2026, 3, 1)].mrr_pennies == 2165  # 999 x 26 / 12 = 2164.5
