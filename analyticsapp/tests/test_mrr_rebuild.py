"""A rebuild of any range gives the rows a full rebuild gives, and a rebuild that
changes an MRR day logs it as a restatement."""

import datetime as dt
import random

import pytest
from django.forms.models import model_to_dict

from analyticsapp.models import MrrDailySnapshot, Restatement, SnapshotRun
from analyticsapp.services.mrr import mrr_build
from analyticsapp.tests.test_mrr_definitions import (
    CREATED,
    DELETED,
    UPDATED,
    apply,
    event,
    london,
)

pytestmark = pytest.mark.django_db
YEAR_START, YEAR_END = dt.date(2026, 1, 1), dt.date(2026, 12, 31)


def a_year_of_history():
    """Every kind of movement, with the edges: a same-day subscribe and cancel,
    changes at midnight and across both daylight-saving switches, two
    subscriptions of one customer, unpaid and paused, another currency."""
    return [
        # A: subscribes and cancels the same day, back two weeks later (new then).
        event(CREATED, "sub_a1", "cus_A", "active", london(2, 10, 10)),
        event(DELETED, "sub_a1", "cus_A", "canceled", london(2, 10, 15)),
        event(CREATED, "sub_a2", "cus_A", "active", london(2, 24, 9), amount=3000),
        event(UPDATED, "sub_a2", "cus_A", "active", london(3, 29, 0, 30), amount=3500),
        event(DELETED, "sub_a2", "cus_A", "canceled", london(9, 1, 0, 0, 0),
              amount=3500),
        event(CREATED, "sub_a3", "cus_A", "active", london(10, 25, 1, 30),
              amount=999, interval="week", count=2),
        # B: two subscriptions; one ends (contraction), then the other (churn).
        event(CREATED, "sub_b1", "cus_B", "trialing", london(1, 5)),
        event(UPDATED, "sub_b1", "cus_B", "active", london(1, 19)),
        event(CREATED, "sub_b2", "cus_B", "active", london(1, 20), amount=24000,
              interval="year"),
        event(DELETED, "sub_b1", "cus_B", "canceled", london(4, 30, 23, 59, 59)),
        event(DELETED, "sub_b2", "cus_B", "canceled", london(7, 14), amount=24000,
              interval="year"),
        event(CREATED, "sub_b3", "cus_B", "active", london(11, 2), amount=1000,
              quantity=3),
        # C: unpaid, back, paused, back; a change in the same second as another.
        event(CREATED, "sub_c", "cus_C", "active", london(1, 1, 0, 0, 1), amount=100,
              interval="day"),
        event(UPDATED, "sub_c", "cus_C", "past_due", london(3, 1), amount=100,
              interval="day"),
        event(UPDATED, "sub_c", "cus_C", "unpaid", london(3, 15), amount=100,
              interval="day"),
        event(UPDATED, "sub_c", "cus_C", "active", london(4, 2), amount=100,
              interval="day"),
        event(UPDATED, "sub_c", "cus_C", "paused", london(8, 8, 23, 59, 59),
              amount=100, interval="day"),
        event(UPDATED, "sub_c", "cus_C", "active", london(8, 8, 23, 59, 59),
              amount=100, interval="day"),
        event(UPDATED, "sub_c", "cus_C", "active", london(12, 24), amount=150,
              interval="day"),
        # D: another currency, never in store MRR.
        event(CREATED, "sub_d", "cus_D", "active", london(2, 1), currency="eur"),
        event(DELETED, "sub_d", "cus_D", "canceled", london(6, 1), currency="eur"),
        # E: quarterly, ended at 23:59:59 and told two seconds later.
        event(CREATED, "sub_e", "cus_E", "active", london(5, 5), amount=4500,
              interval="month", count=3),
        event(DELETED, "sub_e", "cus_E", "canceled", london(10, 31, 23, 59, 59) + 2,
              amount=4500, interval="month", count=3,
              ended_at=london(10, 31, 23, 59, 59)),
    ]  # fmt: skip


def rows(date_from=YEAR_START, date_to=YEAR_END):
    return {
        row.day: model_to_dict(row, exclude=["id"])
        for row in MrrDailySnapshot.objects.filter(day__range=(date_from, date_to))
    }


def ranges():
    """Every range starting and ending on a day next to a change (the day before,
    of, after), the year's edges, and random ranges."""
    edges = {YEAR_START, YEAR_END}
    for payload in a_year_of_history():
        stamp = payload["data"]["object"]["current_period_start"]
        day = dt.datetime.fromtimestamp(stamp, tz=dt.UTC).date()
        edges |= {day + dt.timedelta(days=k) for k in (-1, 0, 1)}
    edges = sorted(d for d in edges if YEAR_START <= d <= YEAR_END)
    pairs = {(a, b) for a in edges[::3] for b in edges[1::3] if a <= b}
    pairs |= {(d, d) for d in edges}
    rng = random.Random(14)
    for _ in range(40):
        a = YEAR_START + dt.timedelta(days=rng.randrange(365))
        pairs.add((a, a + dt.timedelta(days=rng.randrange((YEAR_END - a).days + 1))))
    return sorted(pairs)


def test_every_range_rebuilds_to_the_rows_of_the_full_rebuild():
    apply(*a_year_of_history())
    mrr_build(date_from=YEAR_START, date_to=YEAR_END)
    full = rows()
    assert full[dt.date(2026, 2, 24)]["new_pennies"] == 3000
    assert (
        sum(r["net_new_pennies"] for r in full.values())
        == (full[YEAR_END]["mrr_pennies"])
    )
    checked = 0
    for date_from, date_to in ranges():
        MrrDailySnapshot.objects.all().delete()
        mrr_build(date_from=date_from, date_to=date_to)
        rebuilt = rows()
        assert set(rebuilt) == {d for d in full if date_from <= d <= date_to}
        for day, row in rebuilt.items():
            assert row == full[day], (date_from, date_to, day)
        checked += 1
    assert checked > 300


def test_rebuilding_over_a_full_build_changes_nothing_and_restates_nothing():
    apply(*a_year_of_history())
    mrr_build(date_from=YEAR_START, date_to=YEAR_END)
    full = rows()
    run = SnapshotRun.objects.create(
        date_from=dt.date(2026, 2, 1), date_to=dt.date(2026, 3, 31), triggered_by="t"
    )
    mrr_build(date_from=run.date_from, date_to=run.date_to, run=run)
    assert rows() == full
    assert not Restatement.objects.exists()


def test_a_changed_history_restates_the_mrr_day():
    apply(*a_year_of_history())
    mrr_build(date_from=YEAR_START, date_to=YEAR_END)
    # A late event: A's plan was raised on 10 March, learnt after the day was built.
    apply(event(UPDATED, "sub_a2", "cus_A", "active", london(3, 10), amount=3200))
    run = SnapshotRun.objects.create(
        date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31), triggered_by="t"
    )
    mrr_build(date_from=run.date_from, date_to=run.date_to, run=run)
    restated = {
        (r.day, r.metric): (r.old_value, r.new_value) for r in run.restatements.all()
    }
    march_10, march_29 = dt.date(2026, 3, 10), dt.date(2026, 3, 29)
    # A 3000 → 3200, B 2000 + 24000 / 12, C 100 a day x 365 / 12 (past due).
    assert restated[(march_10, "mrr_pennies")] == (10042, 10242)
    assert restated[(march_10, "mrr_expansion_pennies")] == (0, 200)
    assert restated[(march_10, "mrr_net_new_pennies")] == (0, 200)
    # Every day to the 29th has 200 more MRR; on the 29th A's raise to 3500 is
    # 300 of expansion, not 500, and the MRR is the same again.
    assert restated[(march_29, "mrr_expansion_pennies")] == (500, 300)
    assert (march_29, "mrr_pennies") not in restated
    assert {day for day, _ in restated} == {dt.date(2026, 3, d) for d in range(10, 30)}
    assert Restatement.objects.count() == len(restated)


def test_a_snapshot_build_logs_the_mrr_days_it_restated():
    from analyticsapp.services.snapshots import snapshots_build

    apply(*a_year_of_history())
    snapshots_build(date_from=YEAR_START, date_to=YEAR_END, triggered_by="t")
    apply(event(UPDATED, "sub_a2", "cus_A", "active", london(3, 10), amount=3200))
    run = snapshots_build(
        date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31), triggered_by="t"
    )
    days = set(run.restatements.values_list("day", flat=True))
    assert days == {dt.date(2026, 3, d) for d in range(10, 30)}
    assert run.restated_days == 20
    assert run.restatements.filter(metric="mrr_pennies").count() == 19
