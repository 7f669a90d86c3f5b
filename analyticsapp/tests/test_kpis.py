"""Snapshots and KPI windows against a ledger with hand-computed answers."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from analyticsapp.kpis import (
    Window,
    best_sellers,
    cohort_retention,
    kpi_summary,
    kpis_for,
)
from analyticsapp.models import (
    CustomerDailySnapshot,
    DailySnapshot,
    ProductDailySnapshot,
    Restatement,
    SnapshotRun,
)
from analyticsapp.services.snapshots import snapshots_build
from audit.models import AuditLog
from catalog.tests.factories import ProductFactory, VariantFactory
from orders.tests.factories import place_order
from payments.tests.events import dispute_event, intent_succeeded, post, refund_event
from wishlist.services import wishlist_add

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def ts(*args):
    return int(dt.datetime(*args, tzinfo=UTC).timestamp())


@pytest.fixture
def ledger(client, settings):
    """Two customers, four £60 orders (free shipping), two refunds, one dispute.

    X pays on 15 Jan (23:30 UTC = 23:30 GMT → 15 Jan) and 30 Jun 23:30 UTC
    (00:30 BST → 1 Jul). Y pays on 16 Jan 00:30 UTC (→ 16 Jan) and 30 Jun 22:30 UTC
    (23:30 BST → 30 Jun). Refunds: 500 on Y's June order at 1 Jul 23:15 UTC (→ 2 Jul),
    1000 on X's July order at 20 Jul 12:00 UTC (a later window than its payment).
    """
    settings.REPORTING_TIMEZONE = "Europe/London"
    x, y = UserFactory(roles=["customer"]), UserFactory(roles=["customer"])
    mug = VariantFactory(
        stock=50, product=ProductFactory(name="Mug", price_pennies=6000)
    )
    jug = VariantFactory(
        stock=50, product=ProductFactory(name="Jug", price_pennies=6000)
    )
    with time_machine.travel(dt.datetime(2026, 6, 10, 9, tzinfo=UTC), tick=False):
        wishlist_add(customer=x, product=jug.product)  # converts on 1 Jul
        wishlist_add(customer=y, product=jug.product)  # never bought
    plan = [
        (x, mug, "c", ts(2026, 1, 15, 23, 30)),
        (y, mug, "d", ts(2026, 1, 16, 0, 30)),
        (y, mug, "b", ts(2026, 6, 30, 22, 30)),
        (x, jug, "a", ts(2026, 6, 30, 23, 30)),
    ]
    for customer, variant, key, paid in plan:
        order = place_order(customer=customer, variants={variant: 1})
        assert order.total_pennies == 6000
        post(
            client,
            intent_succeeded(order, pi=f"pi_{key}", charge=f"ch_{key}", created=paid),
        )
    post(
        client,
        refund_event(
            "re_b", 500, charge="ch_b", pi="pi_b", created=ts(2026, 7, 1, 23, 15)
        ),
    )
    post(
        client,
        refund_event(
            "re_a", 1000, charge="ch_a", pi="pi_a", created=ts(2026, 7, 20, 12)
        ),
    )
    post(
        client,
        dispute_event(
            "dp_c",
            6000,
            charge="ch_c",
            event_type="charge.dispute.funds_withdrawn",
            created=ts(2026, 2, 3, 10),
            withdrawn=6000,
        ),
    )
    snapshots_build(
        date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 7, 31), triggered_by="test"
    )
    return {"x": x, "y": y, "mug": mug, "jug": jug}


def _day(day):
    return DailySnapshot.objects.get(day=day)


def test_days_follow_london_time_in_winter_and_summer(ledger):
    assert _day(dt.date(2026, 1, 15)).gross_revenue_pennies == 6000
    assert _day(dt.date(2026, 1, 16)).gross_revenue_pennies == 6000
    assert _day(dt.date(2026, 6, 30)).gross_revenue_pennies == 6000  # 22:30 UTC
    assert _day(dt.date(2026, 7, 1)).gross_revenue_pennies == 6000  # 23:30 UTC
    refund_day = _day(dt.date(2026, 7, 2))  # 23:15 UTC on 1 Jul
    assert (refund_day.refunds_pennies, refund_day.net_revenue_pennies) == (500, -500)
    assert _day(dt.date(2026, 7, 1)).refunds_pennies == 0


def test_daily_rows_carry_every_metric(ledger):
    jul1 = _day(dt.date(2026, 7, 1))
    assert (jul1.paid_orders, jul1.units_sold, jul1.customers) == (1, 1, 1)
    assert (jul1.new_customers, jul1.returning_customers) == (0, 1)
    jan15 = _day(dt.date(2026, 1, 15))
    assert (jan15.new_customers, jan15.returning_customers) == (1, 0)
    feb3 = _day(dt.date(2026, 2, 3))
    assert (feb3.dispute_losses_pennies, feb3.net_revenue_pennies) == (6000, -6000)
    quiet = _day(dt.date(2026, 3, 1))
    assert (quiet.gross_revenue_pennies, quiet.paid_orders) == (0, 0)
    assert DailySnapshot.objects.count() == 212  # every day of the range, even quiet


def test_the_7_day_window_to_2_july(ledger):
    k = kpis_for(Window.ending(dt.date(2026, 7, 2), 7))
    assert k["gross_revenue_pennies"] == 12000
    assert k["refunds_pennies"] == 500
    assert k["dispute_losses_pennies"] == 0
    assert k["net_revenue_pennies"] == 11500
    assert (k["paid_orders"], k["units_sold"], k["aov_pennies"]) == (2, 2, 6000)
    assert (k["customers"], k["new_customers"], k["returning_customers"]) == (2, 0, 2)
    assert k["repeat_purchase_rate"] == Decimal("1.0000")
    assert k["refund_rate"] == Decimal("0.0417")  # 500 / 12000, half up
    assert k["wishlist_conversion"] is None  # no adds: not applicable, never 0


def test_a_refund_counts_in_its_own_window_not_its_payments(ledger):
    july = kpis_for(Window(dt.date(2026, 7, 3), dt.date(2026, 7, 31)))
    assert (july["gross_revenue_pennies"], july["refunds_pennies"]) == (0, 1000)
    assert july["net_revenue_pennies"] == -1000
    # Nothing to divide by: not applicable (blank in exports, "—" on screen).
    assert july["refund_rate"] is None
    assert july["aov_pennies"] is None and july["paid_orders"] == 0


def test_new_customers_and_repeat_rate_in_january(ledger):
    january = kpis_for(Window(dt.date(2026, 1, 1), dt.date(2026, 1, 31)))
    assert (january["customers"], january["new_customers"]) == (2, 2)
    assert january["repeat_purchase_rate"] == Decimal(0)  # one order each by then


def test_comparison_with_the_previous_window(ledger):
    summary = kpi_summary(as_of=dt.date(2026, 7, 2), days=7)
    gross = summary["kpis"]["gross_revenue_pennies"]
    assert (gross.current, gross.previous, gross.change) == (12000, 0, 12000)
    assert gross.change_ratio is None
    assert summary["previous_window"] == Window(
        dt.date(2026, 6, 19), dt.date(2026, 6, 25)
    )


def test_wishlist_conversion_counts_purchases_within_30_days(ledger):
    june = kpis_for(Window(dt.date(2026, 6, 1), dt.date(2026, 6, 30)))
    assert june["wishlist_conversion"] == Decimal("0.5000")  # X bought, Y did not


def test_cohort_retention(ledger):
    january = cohort_retention(as_of=dt.date(2026, 7, 31))[0]
    assert (january["month"], january["size"]) == (dt.date(2026, 1, 1), 2)
    shares = january["shares"]
    assert shares[0] == Decimal(1)
    assert shares[5] == Decimal("0.5")  # Y in June
    assert shares[6] == Decimal("0.5")  # X in July
    assert shares[1] == shares[2] == Decimal(0)


def test_best_sellers(ledger):
    rows = best_sellers(Window(dt.date(2026, 1, 1), dt.date(2026, 7, 31)))
    assert [(r["product__name"], r["units"], r["revenue_pennies"]) for r in rows] == [
        ("Mug", 3, 18000),
        ("Jug", 1, 6000),
    ]


def test_rebuilding_a_range_gives_identical_rows_and_no_restatement(ledger):
    def rows():
        return list(
            DailySnapshot.objects.order_by("day").values_list(
                *[
                    f.name
                    for f in DailySnapshot._meta.fields
                    if f.name not in ("id", "built_at")
                ]
            )
        )

    before = rows()
    run = snapshots_build(
        date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 7, 31), triggered_by="test"
    )
    assert rows() == before
    assert run.restated_days == 0 and not Restatement.objects.exists()
    assert AuditLog.objects.filter(event_type="analytics.snapshots_built").count() == 2


def test_a_late_refund_restates_the_day_it_belongs_to(ledger, client):
    post(
        client,
        refund_event(
            "re_late", 700, charge="ch_a", pi="pi_a", created=ts(2026, 7, 1, 12)
        ),
    )
    run = snapshots_build(
        date_from=dt.date(2026, 6, 25),
        date_to=dt.date(2026, 7, 5),
        triggered_by="nightly",
    )
    assert run.restated_days == 1
    changes = {
        (r.metric, r.old_value, r.new_value)
        for r in Restatement.objects.filter(run=run, day=dt.date(2026, 7, 1))
    }
    assert changes == {
        ("refunds_pennies", 0, 700),
        ("net_revenue_pennies", 6000, 5300),
        ("net_revenue_after_fees_pennies", 6000, 5300),  # no fee known in this shop
    }
    assert SnapshotRun.objects.count() == 2


def test_a_payment_at_exactly_midnight_counts_on_its_own_day_everywhere(client):
    """Day boundaries are exact in every snapshot, on SQLite (naive UTC text) as on
    PostgreSQL: 1 Jul 00:00 BST is 30 Jun 23:00 UTC."""
    customer = UserFactory(roles=["customer"])
    variant = VariantFactory(
        stock=5, product=ProductFactory(name="Bowl", price_pennies=6000)
    )
    order = place_order(customer=customer, variants={variant: 1})
    post(client, intent_succeeded(order, created=ts(2026, 6, 30, 23, 0)))
    build = {"date_from": dt.date(2026, 6, 30), "date_to": dt.date(2026, 7, 1)}

    snapshots_build(**build, triggered_by="test")

    june, july = _day(dt.date(2026, 6, 30)), _day(dt.date(2026, 7, 1))
    assert (june.gross_revenue_pennies, june.paid_orders, june.units_sold) == (0, 0, 0)
    assert (july.gross_revenue_pennies, july.paid_orders, july.units_sold) == (
        6000,
        1,
        1,
    )
    row = CustomerDailySnapshot.objects.get()
    assert (row.day, row.first_paid_day, row.lifetime_paid_orders) == (
        dt.date(2026, 7, 1),
        dt.date(2026, 7, 1),
        1,
    )
    assert ProductDailySnapshot.objects.get().day == dt.date(2026, 7, 1)
    # A build that ends the day before leaves the payment out altogether.
    snapshots_build(
        date_from=dt.date(2026, 6, 29), date_to=dt.date(2026, 6, 30), triggered_by="t"
    )
    assert not CustomerDailySnapshot.objects.filter(day__lte=dt.date(2026, 6, 30))


def test_the_cache_generation_moves_when_an_older_build_commits_last():
    from django.utils import timezone

    from analyticsapp.kpis import snapshot_generation

    days = {"date_from": dt.date(2026, 1, 1), "date_to": dt.date(2026, 1, 31)}
    backfill = SnapshotRun.objects.create(**days, triggered_by="cli: backfill")
    nightly = SnapshotRun.objects.create(**days, triggered_by="nightly")
    nightly.finished_at = timezone.now()
    nightly.save()
    before = snapshot_generation()

    # The backfill started first and commits last, stamped with an earlier time.
    backfill.finished_at = nightly.finished_at - dt.timedelta(minutes=5)
    backfill.save()

    assert snapshot_generation() != before


def test_the_dashboard_computes_its_kpis_when_the_cache_is_down(ledger, monkeypatch):
    from analyticsapp import kpis

    window = Window(dt.date(2026, 6, 25), dt.date(2026, 7, 5))
    expected = kpis_for(window)

    def down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis:6379")

    monkeypatch.setattr(kpis.cache, "get", down)
    monkeypatch.setattr(kpis.cache, "set", down)
    assert kpis_for(window) == expected


def test_cached_kpis_are_replaced_by_the_next_build(ledger, client):
    window = Window(dt.date(2026, 6, 25), dt.date(2026, 7, 5))
    before = kpis_for(window)
    with CaptureQueriesContext(connection) as cached:
        assert kpis_for(window) == before
    assert len(cached) == 1  # the build generation only: the numbers came cached
    post(
        client,
        refund_event(
            "re_late", 700, charge="ch_a", pi="pi_a", created=ts(2026, 7, 1, 12)
        ),
    )
    assert kpis_for(window) == before  # the ledger moved; the snapshots did not yet
    snapshots_build(date_from=window.start, date_to=window.end, triggered_by="nightly")
    after = kpis_for(window)
    assert after["refunds_pennies"] == before["refunds_pennies"] + 700


def test_the_build_command_reports_progress_and_checks_its_arguments(ledger, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command(
        "build_analytics_snapshots", "--from", "2026-06-01", "--to", "2026-07-31"
    )
    out = capsys.readouterr().out
    assert "days/s" in out and "built 61 day(s) 2026-06-01..2026-07-31" in out
    for args, message in [
        (("--from", "2026-07-01"), "go together"),
        (("--from", "2026-07-01", "--to", "2026-06-01"), "before"),
        (("--from", "July", "--to", "2026-06-01"), "YYYY-MM-DD"),
        (("--days", "0"), "at least 1"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("build_analytics_snapshots", *args)


def test_other_currencies_are_not_counted_before_stripe_settles_them(client, settings):
    from payments.tests.events import envelope

    post(
        client,
        envelope(
            "payment_intent.succeeded",
            {
                "id": "pi_usd",
                "object": "payment_intent",
                "amount": 999,
                "amount_received": 999,
                "currency": "usd",
                "latest_charge": "ch_usd",
                "metadata": {},
            },
            created=ts(2026, 3, 3, 12),
        ),
    )
    snapshots_build(
        date_from=dt.date(2026, 3, 3), date_to=dt.date(2026, 3, 3), triggered_by="test"
    )
    assert _day(dt.date(2026, 3, 3)).gross_revenue_pennies == 0


def test_a_ratio_with_nothing_to_divide_by_is_not_applicable():
    from analyticsapp.kpis import ratio

    assert ratio(600, 0) is None
    assert ratio(0, 0) is None
    assert ratio(1, 3) == Decimal("0.3333")


def test_a_window_before_any_snapshot_has_no_prior_data(ledger):
    summary = kpi_summary(as_of=dt.date(2026, 1, 7), days=7)  # built from 1 Jan
    assert summary["prior_data"] is False
    gross = summary["kpis"]["gross_revenue_pennies"]
    assert (gross.change, gross.change_ratio) == (None, None)


def test_aov_counts_only_the_revenue_of_paid_orders(ledger):
    """A payment raised for ops is gross revenue but not in AOV's numerator."""
    DailySnapshot.objects.filter(day=dt.date(2026, 7, 1)).update(
        order_revenue_pennies=6000 + 50000, gross_revenue_pennies=56000
    )  # as if a £500 payment for an oversold order landed that day
    k = kpis_for(Window.ending(dt.date(2026, 7, 2), 3))
    assert k["paid_orders"] == 2 and k["aov_pennies"] == 6000


def test_cohort_months_not_yet_lived_are_not_applicable(ledger):
    june = cohort_retention(as_of=dt.date(2026, 6, 30))[0]
    assert june["shares"][5] == Decimal("0.5")  # June itself
    assert june["shares"][6:] == [None] * 6  # July onwards has not happened


@pytest.mark.parametrize("warm", [True, False])
def test_a_build_warms_the_dashboards_windows_once_it_commits(
    ledger, warm, django_capture_on_commit_callbacks
):
    from analyticsapp.kpis import WINDOWS, kpi_summary

    with django_capture_on_commit_callbacks(execute=True):
        snapshots_build(
            date_from=dt.date(2026, 6, 1),
            date_to=dt.date(2026, 7, 31),
            triggered_by="manual",
            warm=warm,
        )
    with CaptureQueriesContext(connection) as first_visit:
        for days in WINDOWS:
            kpi_summary(days=days)
    # Warm: each window and the one before come from the cache (one query each
    # for the build generation); cold, the first visitor computes them.
    if warm:
        assert len(first_visit) <= 2 * len(WINDOWS)
    else:
        assert len(first_visit) > 4 * len(WINDOWS)
