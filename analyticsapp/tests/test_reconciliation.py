"""For a seeded demo, the snapshots' daily net revenue over any range equals the
ledger's, to the penny (runs on SQLite and on PostgreSQL): pounds as they are, the
demo's euro Payment Links at what their charges settled for in pounds."""

import datetime as dt
import random

import pytest
from django.core.management import call_command
from django.db.models import Sum

from analyticsapp.models import DailySnapshot
from core.timeutils import day_bounds_utc
from payments.models import BalanceTransaction, Dispute, Payment, Refund


def _ledger_net(start: dt.date, end: dt.date) -> int:
    lo, hi = day_bounds_utc(start)[0], day_bounds_utc(end)[1]
    gross = (
        Payment.objects.filter(
            currency="GBP", paid_at__gte=lo, paid_at__lt=hi
        ).aggregate(s=Sum("amount_pennies"))["s"]
        or 0
    )
    euro_charges = Payment.objects.filter(
        currency="EUR", paid_at__gte=lo, paid_at__lt=hi
    ).values_list("stripe_charge_id", flat=True)
    gross += (
        BalanceTransaction.objects.filter(
            type="charge", currency="GBP", charge_id__in=list(euro_charges)
        ).aggregate(s=Sum("amount_pennies"))["s"]
        or 0
    )
    refunds = (
        Refund.objects.filter(
            currency="GBP",
            status="succeeded",
            stripe_created__gte=lo,
            stripe_created__lt=hi,
        ).aggregate(s=Sum("amount_pennies"))["s"]
        or 0
    )
    withdrawn = (
        Dispute.objects.filter(
            funds_withdrawn_at__gte=lo, funds_withdrawn_at__lt=hi
        ).aggregate(s=Sum("funds_withdrawn_pennies"))["s"]
        or 0
    )
    reinstated = (
        Dispute.objects.filter(
            funds_reinstated_at__gte=lo, funds_reinstated_at__lt=hi
        ).aggregate(s=Sum("funds_reinstated_pennies"))["s"]
        or 0
    )
    return gross - refunds - (withdrawn - reinstated)


@pytest.mark.django_db(transaction=True)
def test_snapshot_net_revenue_reconciles_with_the_ledger_for_any_range():
    call_command("seed_demo", "--customers", "15", "--days", "40")
    days = list(DailySnapshot.objects.order_by("day").values_list("day", flat=True))
    assert len(days) >= 39, "seed_demo builds the snapshots"
    assert Payment.objects.count() > 30 and Refund.objects.exists()
    assert Payment.objects.filter(currency="EUR").count() >= 4
    rng = random.Random(7)
    ranges = [(days[0], days[-1])] + [
        tuple(sorted(rng.sample(days, 2))) for _ in range(25)
    ]
    for start, end in ranges:
        snap = DailySnapshot.objects.filter(day__range=(start, end)).aggregate(
            s=Sum("net_revenue_pennies")
        )["s"]
        assert snap == _ledger_net(start, end), (start, end)
