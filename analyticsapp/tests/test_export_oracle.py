"""An outside analyst's check of the product's figures, from its CSV exports alone.

The oracle below reads only exports (`analyticsapp.exports`, the bytes a download or
`manage.py export_csv` gives) and recomputes MRR, its movements and every window KPI
with its own code, from the words of docs/kpi_definitions.md; it never calls the
product's KPI code (analyticsapp/kpis.py, analyticsapp/services/mrr.py, snapshots),
which is used here only to build the data, as the nightly build does. Then it holds
the product's own exports of those figures (mrr_movements, mrr_summary, kpi_summary,
daily_kpis) to its answers, to the penny, for any subscription history, any rebuild
range and any arrival order of Stripe's events."""

import csv
import datetime as dt
import io
import random
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from analyticsapp.exports import EXPORTS, Filters, csv_chunks
from analyticsapp.tests.test_mrr_definitions import (
    CREATED,
    DELETED,
    UPDATED,
    event,
    london,
)

# --- reading the exports, as an analyst does ------------------------------------------


def export_csv(name: str, date_from=None, date_to=None) -> bytes:
    """The export's bytes, as `manage.py export_csv NAME --from --to` writes them."""
    return b"".join(csv_chunks(EXPORTS[name], Filters(date_from, date_to), {}))


def read(name: str, date_from=None, date_to=None) -> list[dict]:
    header, *rows = csv.reader(
        io.StringIO(export_csv(name, date_from, date_to).decode("utf-8"))
    )
    return [dict(zip(header, row, strict=True)) for row in rows]


def moment(cell: str) -> dt.datetime | None:
    return dt.datetime.fromisoformat(cell.replace("Z", "+00:00")) if cell else None


def business_day(when: dt.datetime) -> dt.date:
    """A date in REPORTING_TIMEZONE (the definitions' "business day")."""
    return when.astimezone(ZoneInfo(settings.REPORTING_TIMEZONE)).date()


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def number(cell: str) -> Decimal | None:
    """An export cell as a number; an empty cell is "not applicable"."""
    return None if cell == "" else Decimal(cell)


def half_up(value: Fraction, places: int = 0) -> Decimal:
    """Rounded half up (away from zero) to `places` decimals, from an exact value."""
    scale = 10**places
    scaled = abs(value) * scale
    whole = int(scaled + Fraction(1, 2))
    result = Decimal(whole if value >= 0 else -whole).scaleb(-places)
    return result.quantize(Decimal(1).scaleb(-places))


def share(numerator, denominator, places: int = 4) -> Decimal | None:
    """A share or ratio, rounded half up to `places`; none when nothing to divide."""
    if not denominator:
        return None
    return half_up(Fraction(int(numerator), int(denominator)), places)


def pennies(numerator, denominator) -> Decimal | None:
    """Money per something, rounded half up to a penny; none when nothing to divide."""
    return share(numerator, denominator, 0)


# --- the MRR oracle: subscription_changes → one row per business day ------------------

# "trial, active, past due, unpaid or paused, cancelled" (mrr_same_second).
LIFE_ORDER = {
    "incomplete": 0, "trialing": 1, "active": 2, "past_due": 3, "unpaid": 4,
    "paused": 4, "canceled": 5, "incomplete_expired": 5,
}  # fmt: skip
ENDED = {"canceled", "incomplete_expired"}
COUNTS = {"active", "past_due"}  # "active and past-due subscriptions"
MOVEMENT_COLUMNS = [
    "mrr_pennies", "active_subscriptions", "paying_customers", "new_pennies",
    "expansion_pennies", "contraction_pennies", "churn_pennies",
    "reactivation_pennies", "net_new_pennies", "new_customers", "churned_customers",
    "other_currency_subscriptions",
]  # fmt: skip


def mrr_days(changes: list[dict], first: dt.date, last: dt.date) -> dict:
    """day → the mrr_movements row the definitions give, for each day first..last.

    Each day is worked out from the whole history to its end (the walk starts at
    the first change, whatever `first` is): a subscription stands at its last change
    whose business day is at most the day; a customer's MRR is the sum of their
    store-currency subscriptions'; movements compare one day's end with the one
    before."""
    store = settings.STORE_CURRENCY.upper()
    lives = defaultdict(list)
    whose = {}
    for row in changes:
        sub = row["subscription_id"]
        whose[sub] = (
            row["stripe_customer_id"] or f"sub:{sub}",
            row["currency"].upper() == store,
        )
        # Churn is dated when the subscription ended, not when we were told.
        at = moment(row["at"])
        if row["status"] in ENDED and row["ended_at"]:
            at = moment(row["ended_at"])
        order = (at, LIFE_ORDER.get(row["status"], 0), row["event_id"])
        lives[sub].append((order, row["status"], int(row["mrr_pennies"])))
    for life in lives.values():
        life.sort()
    if not lives:
        return {day: dict.fromkeys(MOVEMENT_COLUMNS, 0) for day in days(first, last)}
    start = min(business_day(life[0][0][0]) for life in lives.values())
    start = min(start, first)
    standing = dict.fromkeys(lives)  # the state at the last day's end
    cursor = dict.fromkeys(lives, 0)
    ever_paid: set = set()
    before: dict = {}
    result = {}
    for day in days(start, last):
        for sub, life in lives.items():
            while (
                cursor[sub] < len(life) and business_day(life[cursor[sub]][0][0]) <= day
            ):
                standing[sub] = life[cursor[sub]]
                cursor[sub] += 1
        after = defaultdict(int)
        row = dict.fromkeys(MOVEMENT_COLUMNS, 0)
        for sub, state in standing.items():
            if state is None:
                continue
            customer, in_store = whose[sub]
            _, status, mrr = state
            if not in_store:
                row["other_currency_subscriptions"] += status in COUNTS
                continue
            after[customer] += mrr
            row["active_subscriptions"] += status in COUNTS
        row["mrr_pennies"] = sum(after.values())
        row["paying_customers"] = sum(1 for v in after.values() if v > 0)
        for customer in set(before) | set(after):
            old, new = before.get(customer, 0), after.get(customer, 0)
            if old == new:
                continue
            if old == 0 and customer not in ever_paid:
                row["new_pennies"] += new
                row["new_customers"] += 1
            elif old == 0:
                row["reactivation_pennies"] += new
            elif new == 0:
                row["churn_pennies"] += old
                row["churned_customers"] += 1
            elif new > old:
                row["expansion_pennies"] += new - old
            else:
                row["contraction_pennies"] += old - new
        ever_paid |= {c for c, v in after.items() if v > 0}
        row["net_new_pennies"] = (
            row["new_pennies"] + row["expansion_pennies"] + row["reactivation_pennies"]
            - row["contraction_pennies"] - row["churn_pennies"]
        )  # fmt: skip
        before = after
        if day >= first:
            result[day] = row
    return result


def assert_movements_are_the_oracles(first: dt.date, last: dt.date) -> bytes:
    """The mrr_movements export, day by day, is what subscription_changes gives."""
    data = export_csv("mrr_movements")
    exported = {dt.date.fromisoformat(r["day"]): r for r in read("mrr_movements")}
    assert sorted(exported) == days(first, last)
    expected = mrr_days(read("subscription_changes"), first, last)
    for day, row in exported.items():
        got = {c: int(row[c]) for c in MOVEMENT_COLUMNS}
        assert got == expected[day], day
    return data


# --- subscription histories, delivered through the real webhook pipeline --------------

BASE = dt.date(2026, 3, 26)  # London's clocks go forward on 29 March 2026
HISTORY_DAYS = 6
TIMES = [(0, 0, 0), (0, 30, 0), (9, 0, 0), (12, 0, 0), (23, 59, 59)]
STATUSES = ["active", "active", "past_due", "unpaid", "paused", "trialing"]
PLANS = [
    {"amount": 2000},
    {"amount": 999, "interval": "week", "count": 2},  # 2164.5 a month: half up
    {"amount": 24000, "interval": "year"},
    {"amount": 1203, "interval": "year", "count": 2, "quantity": 2},
    {"amount": 100, "interval": "day"},
]


def _stamp(day_offset: int, time: tuple) -> int:
    day = BASE + dt.timedelta(days=day_offset)
    return london(day.month, day.day, *time, year=day.year)


SLOTS = [_stamp(d, t) for d in range(HISTORY_DAYS) for t in TIMES]


@st.composite
def subscription_history(draw, sub_id: str) -> list[dict]:
    """One subscription's events: created, a few updates, perhaps deleted (last,
    its end stamped at or just before the event), in GBP mostly, EUR sometimes."""
    customer = draw(st.sampled_from(["cus_A", "cus_B", "cus_C"]))
    currency = draw(st.sampled_from(["gbp", "gbp", "gbp", "eur"]))
    # Steps through a grid of moments, often none: changes in the same second.
    slot = draw(st.integers(0, len(SLOTS) - 1))
    moments = [SLOTS[slot]]
    for _ in range(draw(st.integers(0, 3))):
        slot = min(slot + draw(st.sampled_from([0, 0, 1, 2, 5])), len(SLOTS) - 1)
        moments.append(SLOTS[slot])
    ends = draw(st.booleans())
    plan = dict(draw(st.sampled_from(PLANS)))
    events = []
    for i, at in enumerate(moments):
        last = i == len(moments) - 1
        if draw(st.booleans()):
            plan = dict(draw(st.sampled_from(PLANS)))
        if i == 0:
            kind, status = CREATED, draw(st.sampled_from(["active", "trialing"]))
        elif last and ends:
            kind, status = DELETED, "canceled"
        else:
            kind, status = UPDATED, draw(st.sampled_from(STATUSES))
        told = at + (draw(st.sampled_from([0, 2])) if kind == DELETED else 0)
        # Event ids in no particular order: the tie-break of the same second.
        event_id = f"evt_{draw(st.integers(0, 999)):03d}_{sub_id}_{i}"
        events.append(
            event(kind, sub_id, customer, status, told, currency=currency,
                  ended_at=at if kind == DELETED else None, event_id=event_id,
                  **plan)
        )  # fmt: skip
    return events


@st.composite
def deliveries(draw) -> list[dict]:
    """Every event of a few subscriptions, some twice, in a shuffled order."""
    n = draw(st.integers(1, 4))
    events = [e for i in range(n) for e in draw(subscription_history(f"sub_{i}"))]
    again = draw(st.lists(st.sampled_from(events), max_size=3))
    return draw(st.permutations(events + again))


def _deliver(events: list[dict]) -> None:
    from subscriptions.services import subscription_apply

    for payload in events:
        subscription_apply(payload)


FIRST = BASE - dt.timedelta(days=2)
LAST = BASE + dt.timedelta(days=HISTORY_DAYS + 1)
ranges = st.tuples(
    st.integers(0, (LAST - FIRST).days), st.integers(0, (LAST - FIRST).days)
).map(lambda p: tuple(FIRST + dt.timedelta(days=d) for d in sorted(p)))


def _edges() -> list[dict]:
    """The definitions' edges, delivered latest first with a duplicate: changes in
    one second (life order, then event id), an end told two seconds after midnight,
    London's midnight in summer time, a same-day subscribe and cancel, another
    currency for the same customer."""
    second = _stamp(2, (23, 59, 59))
    events = [
        event(CREATED, "sub_e1", "cus_A", "active", _stamp(0, (12, 0, 0)),
              event_id="evt_e1a"),
        # The same second: the larger event id wins between two active states...
        event(UPDATED, "sub_e1", "cus_A", "active", _stamp(1, (9, 0, 0)),
              amount=3000, event_id="evt_e1c"),
        event(UPDATED, "sub_e1", "cus_A", "active", _stamp(1, (9, 0, 0)),
              amount=5000, event_id="evt_e1b"),
        # ... and a cancellation wins over an upgrade, whatever the ids.
        event(UPDATED, "sub_e1", "cus_A", "active", second, amount=9000,
              event_id="evt_e1z"),
        event(DELETED, "sub_e1", "cus_A", "canceled", second + 2, ended_at=second,
              event_id="evt_e1d"),
        event(CREATED, "sub_e2", "cus_A", "active", _stamp(1, (12, 0, 0)),
              currency="eur", event_id="evt_e2a"),
        # 00:30 on 30 March in London is 23:30 UTC on the 29th.
        event(CREATED, "sub_e3", "cus_B", "active", _stamp(4, (0, 30, 0)),
              amount=999, interval="week", count=2, event_id="evt_e3a"),
        event(UPDATED, "sub_e3", "cus_B", "unpaid", _stamp(5, (0, 0, 0)),
              amount=999, interval="week", count=2, event_id="evt_e3b"),
        event(CREATED, "sub_e4", "cus_C", "active", _stamp(3, (9, 0, 0)),
              event_id="evt_e4a"),
        event(DELETED, "sub_e4", "cus_C", "canceled", _stamp(3, (23, 59, 59)),
              event_id="evt_e4b"),
    ]  # fmt: skip
    return [*reversed(events), events[3]]


@example(events=_edges(), rebuilds=[(dt.date(2026, 3, 29), dt.date(2026, 3, 30))])
@hyp_settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=deliveries(), rebuilds=st.lists(ranges, min_size=1, max_size=3))
@pytest.mark.django_db
def test_mrr_movements_are_recomputed_from_subscription_changes(events, rebuilds):
    """MRR, each movement, active subscriptions, paying and other-currency counts
    of every day, from subscription_changes alone, for any history delivered in any
    order (duplicates included); a rebuild of any sub-range changes no byte."""
    from analyticsapp.services.mrr import mrr_build  # builds the data only

    with transaction.atomic():
        _deliver(events)
        mrr_build(date_from=FIRST, date_to=LAST)
        full = assert_movements_are_the_oracles(FIRST, LAST)
        for date_from, date_to in rebuilds:
            mrr_build(date_from=date_from, date_to=date_to)
            assert export_csv("mrr_movements") == full, (date_from, date_to)
            part = read("mrr_movements", date_from, date_to)
            assert [r["day"] for r in part] == [d.isoformat() for d in
                                                days(date_from, date_to)]  # fmt: skip
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_subscription_changes_rows_and_their_date_filter():
    """One row per change (a duplicate delivery is one row), with the subscription's
    ids, currency and end; --from/--to select business days of `at`."""
    late = london(3, 29, 0, 30)  # 00:30 GMT, 29 March; clocks go forward at 01:00
    _deliver(
        [
            event(CREATED, "sub_x", "cus_X", "active", london(3, 28, 23, 59, 59),
                  event_id="evt_a"),
            event(UPDATED, "sub_x", "cus_X", "past_due", late, event_id="evt_b"),
            event(UPDATED, "sub_x", "cus_X", "past_due", late, event_id="evt_b"),
            event(DELETED, "sub_x", "cus_X", "canceled", london(3, 30) + 2,
                  ended_at=london(3, 30), event_id="evt_c", currency="gbp"),
        ]
    )  # fmt: skip
    rows = read("subscription_changes")
    assert [r["event_id"] for r in rows] == ["evt_a", "evt_b", "evt_c"]
    assert {r["subscription_id"] for r in rows} == {"sub_x"}
    assert {r["stripe_customer_id"] for r in rows} == {"cus_X"}
    assert [r["status"] for r in rows] == ["active", "past_due", "canceled"]
    assert [r["mrr_pennies"] for r in rows] == ["2000", "2000", "0"]
    assert {r["currency"] for r in rows} == {"GBP"}
    assert {r["ended_at"] for r in rows} == {"2026-03-30T11:00:00Z"}
    assert rows[0]["at"] == "2026-03-28T23:59:59Z"
    march_29 = dt.date(2026, 3, 29)
    only = read("subscription_changes", march_29, march_29)
    assert [r["event_id"] for r in only] == ["evt_b"]
    assert EXPORTS["subscription_changes"].personal_data


# --- window KPIs, from daily_kpis, payments and the other exports ---------------------


DAILY = [
    "gross_revenue_pennies", "order_revenue_pennies", "subscription_revenue_pennies",
    "other_revenue_pennies", "refunds_pennies", "dispute_losses_pennies",
    "net_revenue_pennies", "paid_orders", "units_sold", "customers", "new_customers",
    "returning_customers", "stripe_fees_pennies", "dispute_fees_pennies",
    "net_revenue_after_fees_pennies", "paid_order_revenue_pennies",
]  # fmt: skip


def daily_from_raw_exports() -> dict:
    """day → the daily_kpis row the definitions give, from payments, order_lines,
    refunds, disputes and balance_transactions.

    Money in another currency counts at its balance transaction's amount in the
    shop's currency, once there is one; a paid order is an order payment applied
    to its order."""
    store = settings.STORE_CURRENCY.upper()
    money = defaultdict(lambda: dict.fromkeys(DAILY, 0))
    settled = defaultdict(dict)  # what Stripe settled a charge / refund for
    for bt in read("balance_transactions"):
        if bt["currency"].upper() != store:
            continue
        if bt["type"] == "charge" and bt["charge"]:
            settled["charge"][bt["charge"]] = int(bt["amount_pennies"])
        if bt["type"] == "refund" and bt["refund_id"]:
            settled["refund"][bt["refund_id"]] = -int(bt["amount_pennies"])
        day = money[business_day(moment(bt["created_at"]))]
        fee = int(bt["fee_pennies"])
        if bt["reporting_category"] == "dispute" or bt["dispute_id"]:
            day["dispute_fees_pennies"] += fee
        else:
            day["stripe_fees_pennies"] += fee
    units = defaultdict(int)
    for line in read("order_lines"):
        units[line["order_number"]] += int(line["quantity"])
    paid = []
    for p in read("payments"):
        if p["currency"].upper() == store:
            amount = int(p["amount_pennies"])
        elif p["charge"] in settled["charge"]:
            amount = settled["charge"][p["charge"]]
        else:
            continue  # not settled yet: not counted yet
        day = business_day(moment(p["paid_at"]))
        money[day][f"{p['source']}_revenue_pennies"] += amount
        if p["applied"] == "True" and p["order_number"]:
            money[day]["paid_orders"] += 1
            money[day]["units_sold"] += units[p["order_number"]]
            money[day]["paid_order_revenue_pennies"] += amount
            if p["customer_id"]:
                paid.append((day, p["customer_id"]))
    first = {}
    for day, customer in sorted(paid):
        first.setdefault(customer, day)
    for day in {d for d, _ in paid}:
        who = {c for d, c in paid if d == day}
        money[day]["customers"] = len(who)
        money[day]["new_customers"] = sum(first[c] == day for c in who)
        money[day]["returning_customers"] = len(who) - money[day]["new_customers"]
    for refund in read("refunds"):
        if refund["status"] != "succeeded":
            continue
        if refund["currency"].upper() == store:
            amount = int(refund["amount_pennies"])
        elif refund["refund_id"] in settled["refund"]:
            amount = settled["refund"][refund["refund_id"]]
        else:
            continue
        money[business_day(moment(refund["created_at"]))]["refunds_pennies"] += amount
    for dispute in read("disputes"):
        assert dispute["currency"].upper() == store, "a dispute in another currency"
        for when, column, sign in (("funds_withdrawn_at", "funds_withdrawn_pennies", 1),
                                   ("funds_reinstated_at", "funds_reinstated_pennies",
                                    -1)):  # fmt: skip
            if dispute[when]:
                day = money[business_day(moment(dispute[when]))]
                day["dispute_losses_pennies"] += sign * int(dispute[column])
    for row in money.values():
        row["gross_revenue_pennies"] = sum(
            row[f"{s}_revenue_pennies"] for s in ("order", "subscription", "other")
        )
        row["net_revenue_pennies"] = (
            row["gross_revenue_pennies"] - row["refunds_pennies"]
            - row["dispute_losses_pennies"]
        )  # fmt: skip
        row["net_revenue_after_fees_pennies"] = (
            row["net_revenue_pennies"] - row["stripe_fees_pennies"]
            - row["dispute_fees_pennies"]
        )  # fmt: skip
    return money


def _window_days(row: dict) -> list[dt.date]:
    return days(
        dt.date.fromisoformat(row["window_start"]),
        dt.date.fromisoformat(row["window_end"]),
    )


def _previous(window: list[dt.date]) -> list[dt.date]:
    end = window[0] - dt.timedelta(days=1)
    return days(end - dt.timedelta(days=len(window) - 1), end)


def window_kpis(window: list[dt.date], daily: dict, paid: list, wishlist: list):
    """The executive dashboard's KPIs for a window, per the definitions."""
    rows = [daily[d] for d in window if d in daily]

    def total(column):
        return sum(int(r[column]) for r in rows)

    summed = ["gross_revenue_pennies", "refunds_pennies", "dispute_losses_pennies",
              "net_revenue_pennies", "paid_orders", "units_sold",
              "stripe_fees_pennies", "dispute_fees_pennies",
              "net_revenue_after_fees_pennies"]  # fmt: skip
    values = {c: Decimal(total(c)) for c in summed}
    gross = total("gross_revenue_pennies")
    start, end = window[0], window[-1]
    # Customers from paid orders: applied order payments, by customer.
    inside = {c for c, day in paid if start <= day <= end}
    first = {}
    lifetime = defaultdict(int)
    for customer, day in paid:
        first[customer] = min(first.get(customer, day), day)
        if day <= end:
            lifetime[customer] += 1
    new = {c for c in inside if start <= first[c] <= end}
    adds = sum(
        int(r["adds"]) for r in wishlist if dt.date.fromisoformat(r["day"]) in window
    )
    converted = sum(
        int(r["converted"])
        for r in wishlist
        if dt.date.fromisoformat(r["day"]) in window
    )
    values.update(
        aov_pennies=pennies(total("paid_order_revenue_pennies"), total("paid_orders")),
        customers=Decimal(len(inside)),
        new_customers=Decimal(len(new)),
        returning_customers=Decimal(len(inside - new)),
        repeat_purchase_rate=share(sum(lifetime[c] >= 2 for c in inside), len(inside)),
        refund_rate=share(total("refunds_pennies"), gross),
        effective_fee_rate=share(total("stripe_fees_pennies"), gross),
        wishlist_conversion=share(converted, adds),
    )
    return values


def mrr_window(window: list[dt.date], movements: dict) -> dict:
    """The subscriptions dashboard's KPIs for a window, from mrr_movements."""
    day_before = movements.get(window[0] - dt.timedelta(days=1))
    end = movements.get(window[-1])
    mrr_start = int(day_before["mrr_pennies"]) if day_before else 0
    paying_start = int(day_before["paying_customers"]) if day_before else 0
    mrr = int(end["mrr_pennies"]) if end else 0
    paying = int(end["paying_customers"]) if end else 0

    def total(column):
        return sum(int(movements[d][column]) for d in window if d in movements)

    new, expansion = total("new_pennies"), total("expansion_pennies")
    reactivation, contraction = (
        total("reactivation_pennies"),
        total("contraction_pennies"),
    )
    churn, churned = total("churn_pennies"), total("churned_customers")
    arpu = pennies(mrr, paying)
    churn_rate = share(churned, paying_start)
    # LTV: the ARPU shown (to a penny) / the churn rate shown (four places), half up.
    ltv = (
        half_up(Fraction(arpu) / Fraction(churn_rate))
        if arpu is not None and churn_rate
        else None
    )
    lost = churn + contraction
    return {
        "mrr_pennies": Decimal(mrr),
        "mrr_start_pennies": Decimal(mrr_start),
        "active_subscriptions": Decimal(int(end["active_subscriptions"]) if end else 0),
        "paying_customers": Decimal(paying),
        "arpu_pennies": arpu,
        "customer_churn_rate": churn_rate,
        "gross_mrr_churn_rate": share(lost, mrr_start),
        "net_mrr_churn_rate": share(lost - expansion - reactivation, mrr_start),
        "ltv_pennies": ltv,
        "quick_ratio": share(new + expansion + reactivation, lost, 2),
        "new_pennies": Decimal(new),
        "expansion_pennies": Decimal(expansion),
        "reactivation_pennies": Decimal(reactivation),
        "contraction_pennies": Decimal(contraction),
        "churn_pennies": Decimal(churn),
        "net_new_pennies": Decimal(total("net_new_pennies")),
        "churned_customers": Decimal(churned),
    }


def _change(current, previous):
    return None if current is None or previous is None else current - previous


def assert_summary_is_the_oracles(summary: list[dict], compute) -> int:
    """Each (window, KPI) row: value, previous value and change, cell for cell."""
    checked = 0
    for row in summary:
        window = _window_days(row)
        assert len(window) == int(row["window_days"])
        current, previous = compute(window), compute(_previous(window))
        kpi = row["kpi"]
        expected = (current[kpi], previous[kpi], _change(current[kpi], previous[kpi]))
        got = (number(row["value"]), number(row["previous_value"]),
               number(row["change"]))  # fmt: skip
        assert got == expected, (row["window_days"], kpi, got, expected)
        for cell, value in zip(("value", "previous_value"), expected[:2], strict=True):
            if isinstance(value, Decimal) and value != value.to_integral_value():
                # Shares at four places, the quick ratio at two: as the cell says.
                assert row[cell] == str(value), (kpi, row[cell], value)
        checked += 1
    return checked


@pytest.fixture
def demo():
    """A seeded demo shop: orders, refunds, disputes, euro Payment Links and
    subscriptions, made by the real services, and its snapshots built."""
    call_command("seed_demo", "--customers", "12", "--days", "40")
    daily = {dt.date.fromisoformat(r["day"]): r for r in read("daily_kpis")}
    assert len(daily) >= 39, "seed_demo builds the snapshots"
    return max(daily), daily


@pytest.mark.django_db(transaction=True)
def test_window_kpis_and_subscription_kpis_are_recomputed_from_the_exports(demo):
    """daily_kpis from payments, order_lines, refunds, disputes and balance
    transactions; kpi_summary from daily_kpis, payments and wishlist_conversion;
    mrr_movements from subscription_changes; mrr_summary from mrr_movements: every
    day, and the 7, 30 and 90 days to the last built day and the windows before.
    Rebuilding random ranges of days changes none of those exports."""
    as_of, daily = demo
    raw = daily_from_raw_exports()
    for day, row in daily.items():
        expected = raw.get(day, dict.fromkeys(DAILY, 0))
        assert {c: int(row[c]) for c in DAILY} == expected, day
    # A paid order: an order whose payment was applied to it, by its customer.
    paid = [
        (r["customer_id"], business_day(moment(r["paid_at"])))
        for r in read("payments")
        if r["applied"] == "True" and r["order_number"] and r["customer_id"]
    ]
    assert paid, "the demo has paid orders"
    wishlist = read("wishlist_conversion")
    summary = read("kpi_summary", date_to=as_of)
    assert {r["window_days"] for r in summary} == {"7", "30", "90"}
    checked = assert_summary_is_the_oracles(
        summary, lambda w: window_kpis(w, daily, paid, wishlist)
    )
    assert checked == 3 * 17

    movements = {dt.date.fromisoformat(r["day"]): r for r in read("mrr_movements")}
    changes = read("subscription_changes")
    assert changes, "the demo has subscriptions"
    expected = mrr_days(changes, min(movements), max(movements))
    for day, row in movements.items():
        assert {c: int(row[c]) for c in MOVEMENT_COLUMNS} == expected[day], day
    mrr_summary = read("mrr_summary", date_to=as_of)
    checked = assert_summary_is_the_oracles(
        mrr_summary, lambda w: mrr_window(w, movements)
    )
    assert checked == 3 * 17

    from analyticsapp.services.snapshots import snapshots_build  # builds data only

    figures = ["daily_kpis", "mrr_movements", "kpi_summary", "mrr_summary"]
    before = {name: export_csv(name, date_to=as_of) for name in figures}
    rng = random.Random(14)
    built = sorted(daily)
    for _ in range(3):
        date_from, date_to = sorted(rng.sample(built, 2))
        snapshots_build(date_from=date_from, date_to=date_to, triggered_by="oracle")
        for name in figures:
            assert export_csv(name, date_to=as_of) == before[name], (name, date_from)


# --- window KPIs on hand-made days: the rounding edges ------------------------------

# Counted from payments, which hand-made snapshot rows do not have.
FROM_PAYMENTS = {"customers", "new_customers", "returning_customers",
                 "repeat_purchase_rate"}  # fmt: skip


@pytest.mark.django_db
def test_kpi_summary_roundings_are_recomputed_from_daily_kpis():
    """AOV at a half penny, shares at a half of the fourth place (1/800 is 0.0013,
    not 0.0012), wishlist conversion from its daily rows: from daily_kpis and
    wishlist_conversion."""
    from accounts.tests.factories import UserFactory
    from analyticsapp.models import (
        CustomerDailySnapshot,
        DailySnapshot,
        WishlistDailySnapshot,
    )
    from catalog.tests.factories import ProductFactory

    as_of, now = dt.date(2026, 3, 31), dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    march_25, march_20 = dt.date(2026, 3, 25), dt.date(2026, 3, 20)
    DailySnapshot.objects.bulk_create(
        [
            DailySnapshot(day=march_25, gross_revenue_pennies=300,
                          order_revenue_pennies=300, refunds_pennies=100,
                          net_revenue_pennies=200, stripe_fees_pennies=5,
                          net_revenue_after_fees_pennies=195, paid_orders=2,
                          paid_order_revenue_pennies=301,
                          units_sold=3, customers=2, new_customers=2, built_at=now),
            DailySnapshot(day=march_20, gross_revenue_pennies=800,
                          other_revenue_pennies=800, refunds_pennies=1,
                          net_revenue_pennies=799,
                          net_revenue_after_fees_pennies=799, built_at=now),
        ]
    )  # fmt: skip
    a, b = UserFactory(roles=["customer"]), UserFactory(roles=["customer"])
    CustomerDailySnapshot.objects.bulk_create(
        CustomerDailySnapshot(day=march_25, customer=who, paid_orders=1,
                              revenue_pennies=pennies, lifetime_paid_orders=1,
                              first_paid_day=march_25)
        for who, pennies in ((a, 150), (b, 151))
    )  # fmt: skip
    product = ProductFactory()
    WishlistDailySnapshot.objects.bulk_create(
        [
            WishlistDailySnapshot(day=dt.date(2026, 3, 26), product=product, adds=3,
                                  converted=1),
            WishlistDailySnapshot(day=dt.date(2026, 3, 19), product=product, adds=8,
                                  converted=1),
        ]
    )  # fmt: skip
    daily = {dt.date.fromisoformat(r["day"]): r for r in read("daily_kpis")}
    wishlist = read("wishlist_conversion")
    summary = [r for r in read("kpi_summary", date_to=as_of)
               if r["kpi"] not in FROM_PAYMENTS]  # fmt: skip
    assert assert_summary_is_the_oracles(
        summary, lambda w: window_kpis(w, daily, [], wishlist)
    ) == 3 * (17 - len(FROM_PAYMENTS))
    seven = {r["kpi"]: r for r in summary if r["window_days"] == "7"}
    assert seven["aov_pennies"]["value"] == "151"  # 301 / 2 = 150.5
    assert seven["aov_pennies"]["previous_value"] == ""
    assert seven["refund_rate"]["value"] == "0.3333"
    assert seven["refund_rate"]["previous_value"] == "0.0013"
    assert seven["effective_fee_rate"]["value"] == "0.0167"
    assert seven["wishlist_conversion"]["previous_value"] == "0.1250"


# --- subscription KPIs on hand-made days: the rounding edges ------------------------


@pytest.mark.django_db
def test_mrr_summary_roundings_are_recomputed_from_mrr_movements():
    """ARPU and LTV at a half penny, a churn rate at four places, the quick ratio at
    two, a window with nothing at its start: each recomputed from mrr_movements."""
    from analyticsapp.models import MrrDailySnapshot

    as_of = dt.date(2026, 3, 31)
    MrrDailySnapshot.objects.bulk_create(
        [
            # 3 paying customers, 1001 pennies, the day before the 7-day window.
            MrrDailySnapshot(day=dt.date(2026, 3, 24), mrr_pennies=1001,
                             paying_customers=3, active_subscriptions=3,
                             new_pennies=1001, net_new_pennies=1001,
                             new_customers=3),
            # One churns: 1/3 = 0.3333.
            MrrDailySnapshot(day=dt.date(2026, 3, 27), mrr_pennies=701,
                             paying_customers=2, active_subscriptions=2,
                             churn_pennies=300, churned_customers=1,
                             expansion_pennies=7, contraction_pennies=7,
                             net_new_pennies=-300),
            MrrDailySnapshot(day=as_of, mrr_pennies=701, paying_customers=2,
                             active_subscriptions=2, reactivation_pennies=5,
                             contraction_pennies=5),
        ]
    )  # fmt: skip
    movements = {dt.date.fromisoformat(r["day"]): r for r in read("mrr_movements")}
    summary = read("mrr_summary", date_to=as_of)
    assert (
        assert_summary_is_the_oracles(summary, lambda w: mrr_window(w, movements))
        == 3 * 17
    )
    seven = {r["kpi"]: r["value"] for r in summary if r["window_days"] == "7"}
    assert seven["arpu_pennies"] == "351"  # 701 / 2 = 350.5, half up
    assert seven["customer_churn_rate"] == "0.3333"
    assert seven["ltv_pennies"] == "1053"  # 351 / 0.3333 = 1053.1
    assert seven["quick_ratio"] == "0.04"  # (7 + 5) / (300 + 7 + 5) = 0.0385


def test_the_oracles_own_rounding_is_half_up():
    assert half_up(Fraction(5, 2)) == Decimal(3)
    assert half_up(Fraction(-5, 2)) == Decimal(-3)
    assert share(1, 3) == Decimal("0.3333") and share(2, 3) == Decimal("0.6667")
    assert share(1, 8, 2) == Decimal("0.13") and share(1, 0) is None
    assert pennies(4329, 2) == Decimal(2165)  # 2164.5
