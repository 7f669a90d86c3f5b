"""MRR and its movements against hand-computed answers."""

import datetime as dt
import json
import random
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import given
from hypothesis import strategies as st

from analyticsapp.kpis import Window, mrr_summary
from analyticsapp.models import MrrDailySnapshot
from analyticsapp.services.mrr import mrr_build
from payments.gateway import sign
from payments.webhook import receive
from subscriptions.models import Subscription
from subscriptions.services import _item, mrr_pennies

pytestmark = pytest.mark.django_db
UTC = dt.UTC
_seq = iter(range(1, 10**6))


def at(month, day, hour=12):
    return int(dt.datetime(2026, month, day, hour, tzinfo=UTC).timestamp())


def sub(event, sub_id, customer, status, items, created, *, cape=False, basil=False):
    """A subscription event; items: [(amount, interval, quantity)]."""
    data_items = []
    for n, (amount, interval, quantity) in enumerate(items):
        item = {
            "id": f"si_{sub_id}_{n}",
            "price": {"id": f"price_{amount}_{interval}", "unit_amount": amount,
                      "currency": "gbp", "recurring": {"interval": interval,
                                                       "interval_count": 1}},
            "quantity": quantity,
        }  # fmt: skip
        if basil:
            item["current_period_start"] = created
            item["current_period_end"] = created + 30 * 86400
        data_items.append(item)
    obj = {
        "id": sub_id, "object": "subscription", "customer": customer, "status": status,
        "cancel_at_period_end": cape, "created": at(3, 1), "start_date": at(3, 1),
        "items": {"object": "list", "data": data_items},
    }  # fmt: skip
    if not basil:
        obj["current_period_start"], obj["current_period_end"] = (
            created,
            created + 30 * 86400,
        )
    return {
        "id": f"evt_mrr{next(_seq):05d}", "object": "event", "type": event,
        "created": created, "api_version": "2025-03-31.basil",
        "data": {"object": obj},
    }  # fmt: skip


CREATED, UPDATED, DELETED = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


def scenario():
    return [
        sub(CREATED, "sub_a", "cus_A", "active", [(2000, "month", 1)], at(3, 1)),
        sub(CREATED, "sub_b", "cus_B", "active", [(24000, "year", 1)], at(3, 1), basil=True),
        sub(CREATED, "sub_c1", "cus_C", "active", [(1000, "month", 1)], at(3, 1)),
        sub(CREATED, "sub_c2", "cus_C", "active", [(1000, "month", 1)], at(3, 1)),
        sub(CREATED, "sub_d", "cus_D", "trialing", [(5000, "month", 1)], at(3, 1)),
        sub(UPDATED, "sub_d", "cus_D", "active", [(5000, "month", 1)], at(3, 14)),
        sub(UPDATED, "sub_a", "cus_A", "active", [(3000, "month", 1)], at(3, 15)),
        sub(UPDATED, "sub_c1", "cus_C", "active", [(1000, "month", 3)], at(3, 18)),
        sub(UPDATED, "sub_b", "cus_B", "past_due", [(24000, "year", 1)], at(4, 1), basil=True),
        sub(UPDATED, "sub_b", "cus_B", "active", [(24000, "year", 1)], at(4, 3), basil=True),
        sub(UPDATED, "sub_a", "cus_A", "active", [(3000, "month", 1)], at(4, 5), cape=True),
        sub(DELETED, "sub_c2", "cus_C", "canceled", [(1000, "month", 1)], at(4, 10)),
        sub(DELETED, "sub_a", "cus_A", "canceled", [(3000, "month", 1)], at(4, 15), cape=True),
        sub(CREATED, "sub_a2", "cus_A", "active", [(2000, "month", 1)], at(5, 1)),
    ]  # fmt: skip


def deliver(events):
    for event in events:
        body = json.dumps(event, separators=(",", ":")).encode()
        assert receive(body=body, signature=sign(body)).status == 200


def build():
    mrr_build(date_from=dt.date(2026, 2, 20), date_to=dt.date(2026, 5, 31))
    return {row.day: row for row in MrrDailySnapshot.objects.all()}


def test_normalising_to_a_month():
    item = {"monthly": "0"}
    assert mrr_pennies([item], "active") == 0
    from subscriptions.services import _item

    yearly = _item({"price": {"unit_amount": 24000, "recurring": {"interval": "year"}}})
    weekly = _item({"price": {"unit_amount": 1200, "recurring": {"interval": "week"}},
                    "quantity": 2})  # fmt: skip
    daily = _item({"price": {"unit_amount": 100, "recurring": {"interval": "day"}}})
    quarterly = _item({"price": {"unit_amount": 3000, "recurring": {
        "interval": "month", "interval_count": 3}}})  # fmt: skip
    assert mrr_pennies([yearly], "active") == 2000
    assert mrr_pennies([weekly], "active") == 10400  # 2400 x 52 / 12
    assert mrr_pennies([daily], "past_due") == 3042  # 100 x 365 / 12, half up
    assert mrr_pennies([quarterly], "active") == 1000
    assert mrr_pennies([yearly], "trialing") == 0
    assert mrr_pennies([yearly], "canceled") == 0


DAYS_PER_YEAR, WEEKS_PER_YEAR, MONTHS_PER_YEAR = 365, 52, 12


def exact_pennies(items, status):
    """An independent answer: each item's amount per year over 12 x the interval
    count, as one integer fraction per subscription, rounded half up by integers."""
    if status not in {"active", "past_due"}:
        return 0
    per_year = {"day": DAYS_PER_YEAR, "week": WEEKS_PER_YEAR, "month": MONTHS_PER_YEAR,
                "year": 1}  # fmt: skip
    denominator = MONTHS_PER_YEAR
    for _, _, count, _ in items:
        denominator *= count
    numerator = sum(
        amount * quantity * per_year[interval] * (denominator // (12 * count))
        for amount, interval, count, quantity in items
    )
    return (2 * numerator + denominator) // (2 * denominator)


def raw_item(amount, interval, count, quantity):
    return {"price": {"unit_amount": amount, "currency": "gbp",
                      "recurring": {"interval": interval, "interval_count": count}},
            "quantity": quantity}  # fmt: skip


ITEMS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**7),
        st.sampled_from(["day", "week", "month", "year"]),
        st.integers(min_value=1, max_value=12),
        st.integers(min_value=1, max_value=100),
    ),
    min_size=1,
    max_size=3,
)


@given(items=ITEMS, status=st.sampled_from(["active", "past_due", "trialing",
                                            "canceled", "unpaid", "paused"]))  # fmt: skip
def test_mrr_is_exact_and_rounded_half_up_once_per_subscription(items, status):
    stored = [_item(raw_item(*i)) for i in items]
    assert mrr_pennies(stored, status) == exact_pennies(items, status)


@given(items=ITEMS)
def test_every_interval_and_count_reads_back_from_the_stored_json(items):
    stored = json.loads(json.dumps([_item(raw_item(*i)) for i in items]))
    assert mrr_pennies(stored, "active") == exact_pennies(items, "active")


def test_every_interval_and_count_from_1_to_12():
    for interval in ("day", "week", "month", "year"):
        for count in range(1, 13):
            for amount in (1, 999, 1203, 2999, 10**6 + 1):
                for quantity in (1, 2, 7):
                    item = (amount, interval, count, quantity)
                    stored = [_item(raw_item(*item))]
                    assert mrr_pennies(stored, "active") == exact_pennies(
                        [item], "active"
                    ), item


def test_an_exact_half_penny_rounds_up():
    fortnightly = _item(raw_item(999, "week", 2, 1))  # 999 x 26 / 12 = 2164.5
    assert fortnightly["monthly"] == "4329/2"
    assert mrr_pennies([fortnightly], "active") == 2165
    two_yearly = _item(raw_item(1203, "year", 2, 1))  # 1203 / 24 = 50.125
    assert mrr_pennies([two_yearly, two_yearly], "active") == 100  # 100.25, once


def test_items_stored_before_mrr_was_exact_read_right():
    old = {"id": "si_1", "price": "price_1", "product": "", "unit_amount": 999,
           "interval": "week", "interval_count": 2, "quantity": 1, "currency": "GBP",
           "monthly": "2164.499999999999999999999999",
           "period_start": None, "period_end": None}  # fmt: skip
    assert mrr_pennies([old], "active") == 2165
    assert mrr_pennies([{"monthly": "2164.5"}], "active") == 2165  # no price fields


def test_every_movement_on_its_day():
    deliver(scenario())
    days = build()

    def on(month, day):
        row = days[dt.date(2026, month, day)]
        return (row.mrr_pennies, row.new_pennies, row.expansion_pennies,
                row.contraction_pennies, row.churn_pennies, row.reactivation_pennies)  # fmt: skip

    assert on(3, 1) == (6000, 6000, 0, 0, 0, 0)  # trial D adds nothing yet
    assert days[dt.date(2026, 3, 1)].new_customers == 3
    assert on(3, 14) == (11000, 5000, 0, 0, 0, 0)  # the trial converts: new
    assert on(3, 15) == (12000, 0, 1000, 0, 0, 0)  # plan change mid-month
    assert on(3, 18) == (14000, 0, 2000, 0, 0, 0)  # quantity 1 → 3
    assert on(4, 1) == (14000, 0, 0, 0, 0, 0)  # past due still counts
    assert on(4, 3) == (14000, 0, 0, 0, 0, 0)  # recovered: no movement
    assert on(4, 5) == (14000, 0, 0, 0, 0, 0)  # cancel requested: not churn yet
    assert on(4, 10) == (13000, 0, 0, 1000, 0, 0)  # one of two: contraction
    assert on(4, 15) == (10000, 0, 0, 0, 3000, 0)  # churn when it ends
    assert days[dt.date(2026, 4, 15)].churned_customers == 1
    assert on(5, 1) == (12000, 0, 0, 0, 0, 2000)  # a churned customer is back
    assert days[dt.date(2026, 4, 30)].paying_customers == 3


def test_movements_add_up_to_the_change_in_mrr():
    deliver(scenario())
    days = build()
    start, end = dt.date(2026, 2, 28), dt.date(2026, 5, 31)
    net = MrrDailySnapshot.objects.filter(day__gt=start, day__lte=end).aggregate(
        s=Sum("net_new_pennies")
    )["s"]
    assert net == days[end].mrr_pennies - days[start].mrr_pennies == 12000


def test_the_april_window_figures():
    deliver(scenario())
    build()
    k = mrr_summary(Window(dt.date(2026, 4, 1), dt.date(2026, 4, 30)))
    assert (k["mrr_start_pennies"], k["mrr_pennies"]) == (14000, 10000)
    assert (k["contraction_pennies"], k["churn_pennies"]) == (1000, 3000)
    assert k["customer_churn_rate"] == Decimal("0.2500")  # 1 of 4 paying at start
    assert k["gross_mrr_churn_rate"] == Decimal("0.2857")  # 4000 / 14000
    assert k["net_mrr_churn_rate"] == Decimal("0.2857")
    assert k["arpu_pennies"] == 3333  # 10000 / 3
    assert k["ltv_pennies"] == 13332  # 3333 / 0.25
    assert k["quick_ratio"] == Decimal("0.00")
    march = mrr_summary(Window(dt.date(2026, 3, 1), dt.date(2026, 3, 31)))
    assert (march["new_pennies"], march["expansion_pennies"]) == (11000, 3000)
    assert march["quick_ratio"] is None  # nothing lost


def test_any_order_of_events_gives_the_same_mrr_and_subscriptions():
    deliver(scenario())
    expected = {d: r.mrr_pennies for d, r in build().items()}
    states = set(Subscription.objects.values_list("stripe_subscription_id", "status",
                                                  "mrr_pennies"))  # fmt: skip
    events = scenario()
    for seed in range(3):
        from subscriptions.models import SubscriptionChange

        SubscriptionChange.objects.all().delete()
        Subscription.objects.all().delete()
        from payments.models import StripeEvent

        StripeEvent.objects.all().delete()
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        deliver(shuffled + shuffled[:3])  # with repeats
        assert {d: r.mrr_pennies for d, r in build().items()} == expected
        assert set(Subscription.objects.values_list(
            "stripe_subscription_id", "status", "mrr_pennies")) == states  # fmt: skip
