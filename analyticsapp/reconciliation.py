"""The reconciliation a finance team signs off: payouts against their lines, and per
business day Stripe's balance transactions against the ledger and the snapshots.

Per payout: amount, Σ net of its lines, the difference (must be zero), the lines
behind it. Per day: three columns that must agree — gross charges by Stripe (balance
transactions), by the ledger (payments) and by the snapshot — and refunds and fees
likewise; every difference carries its reason, and the day's net says how much of it
is paid out, in transit or not yet paid out.
"""

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db.models import Exists, OuterRef, Sum
from django.db.models.functions import TruncDate

from analyticsapp.models import DailySnapshot
from analyticsapp.services.snapshots import daily_money, gross_of
from core.money import format_money
from core.timeutils import day_bounds_utc, reporting_tz
from payments.models import BalanceTransaction, Payment, Payout, Refund
from payments.services.settlement import (
    CHARGE_TYPES,
    FEE_SUMS,
    REFUND_CATEGORIES,
    payments_without_bt,
)

DAY_COLUMNS = [
    "day", "stripe_gross_pennies", "ledger_gross_pennies", "snapshot_gross_pennies",
    "stripe_refunds_pennies", "ledger_refunds_pennies", "snapshot_refunds_pennies",
    "stripe_fees_pennies", "snapshot_fees_pennies", "net_pennies",
    "paid_out_pennies", "in_transit_pennies", "not_paid_out_pennies", "status",
    "reasons",
]  # fmt: skip


def _day(field):
    return TruncDate(field, tzinfo=reporting_tz())


def _store_code():
    return settings.STORE_CURRENCY.upper()


def _sum_by_day(queryset, field, value="amount_pennies", sign=1):
    rows = (
        queryset.annotate(d=_day(field)).values("d").annotate(t=Sum(value)).order_by()
    )
    return {r["d"]: sign * (r["t"] or 0) for r in rows}


def _money(pennies):
    return format_money(pennies, _store_code())


def days_reconciled(date_from: dt.date, date_to: dt.date) -> list[dict]:
    """One row per business day of [date_from, date_to] (DAY_COLUMNS)."""
    start, end = day_bounds_utc(date_from)[0], day_bounds_utc(date_to)[1]
    store = _store_code()
    bts = BalanceTransaction.objects.filter(
        stripe_created__gte=start, stripe_created__lt=end, currency=store
    )
    charges = bts.filter(type__in=CHARGE_TYPES)
    stripe_gross = _sum_by_day(charges, "stripe_created")
    stripe_refunds = _sum_by_day(
        bts.filter(reporting_category__in=REFUND_CATEGORIES), "stripe_created", sign=-1
    )
    # The ledger by the snapshots' own rule (money in another currency at its
    # settled amount), so the two columns can only differ by a stale snapshot.
    ledger = daily_money(start, end)
    ledger_gross = {day: gross_of(money) for day, money in ledger.items()}
    ledger_refunds = {
        day: money.get("refunds_pennies", 0) for day, money in ledger.items()
    }
    fees = defaultdict(int)
    for row in (
        bts.annotate(d=_day("stripe_created"))
        .values("d")
        .annotate(**{k: f() for k, f in FEE_SUMS.items()})
        .order_by()
    ):
        fees[row["d"]] = row["stripe_fees"] + row["dispute_fees"]
    net = _sum_by_day(bts.exclude(type="payout"), "stripe_created", "net_pennies")
    paid_out = _sum_by_day(
        bts.exclude(type="payout").filter(
            Exists(
                Payout.objects.filter(
                    stripe_payout_id=OuterRef("payout_stripe_id"),
                    status=Payout.Status.PAID,
                )
            )
        ),
        "stripe_created",
        "net_pennies",
    )
    in_transit = _sum_by_day(
        bts.exclude(type="payout").filter(
            Exists(
                Payout.objects.filter(
                    stripe_payout_id=OuterRef("payout_stripe_id"),
                    status__in=[Payout.Status.PENDING, Payout.Status.IN_TRANSIT],
                )
            )
        ),
        "stripe_created",
        "net_pennies",
    )
    snapshots = {
        s.day: s for s in DailySnapshot.objects.filter(day__range=(date_from, date_to))
    }
    reasons = _reasons(start, end, store)
    rows = []
    day = date_from
    while day <= date_to:
        snap = snapshots.get(day)
        row = {
            "day": day,
            "stripe_gross_pennies": stripe_gross.get(day, 0),
            "ledger_gross_pennies": ledger_gross.get(day, 0),
            "snapshot_gross_pennies": snap.gross_revenue_pennies if snap else None,
            "stripe_refunds_pennies": stripe_refunds.get(day, 0),
            "ledger_refunds_pennies": ledger_refunds.get(day, 0),
            "snapshot_refunds_pennies": snap.refunds_pennies if snap else None,
            "stripe_fees_pennies": fees.get(day, 0),
            "snapshot_fees_pennies": (
                snap.stripe_fees_pennies + snap.dispute_fees_pennies if snap else None
            ),
            "net_pennies": net.get(day, 0),
            "paid_out_pennies": paid_out.get(day, 0),
            "in_transit_pennies": in_transit.get(day, 0),
        }
        row["not_paid_out_pennies"] = (
            row["net_pennies"] - row["paid_out_pennies"] - row["in_transit_pennies"]
        )
        row["reasons"] = list(reasons.get(day, []))
        row["status"] = _status(row, snap)
        rows.append(row)
        day += dt.timedelta(days=1)
    return rows


def _status(row: dict, snap) -> str:
    """agrees, explained (every difference has a reason) or unexplained."""
    explained = row["reasons"]
    gross_gap = row["stripe_gross_pennies"] - row["ledger_gross_pennies"]
    gross_explained = sum(r[1] for r in explained if r[0] == "gross")
    refund_gap = row["stripe_refunds_pennies"] - row["ledger_refunds_pennies"]
    refund_explained = sum(r[1] for r in explained if r[0] == "refunds")
    if snap is None:
        if row["ledger_gross_pennies"] or row["ledger_refunds_pennies"]:
            row["reasons"].append(("snapshot", 0, "no snapshot built for this day yet"))
        snapshot_ok = True
    else:
        snapshot_ok = (
            snap.gross_revenue_pennies,
            snap.refunds_pennies,
            snap.stripe_fees_pennies + snap.dispute_fees_pennies,
        ) == (
            row["ledger_gross_pennies"],
            row["ledger_refunds_pennies"],
            row["stripe_fees_pennies"],
        )
        if not snapshot_ok:
            row["reasons"].append(
                (
                    "snapshot",
                    0,
                    f"snapshot built {snap.built_at:%Y-%m-%d %H:%M} UTC, before later "
                    "Stripe events: rebuild the day",
                )
            )
    if gross_gap == 0 and refund_gap == 0 and snapshot_ok and not explained:
        return "agrees"
    if gross_gap == gross_explained and refund_gap == refund_explained:
        return "explained"
    return "unexplained"


def _reasons(start, end, store) -> dict:
    """(column, pennies Stripe minus ledger, sentence) per day, for the known causes."""
    reasons = defaultdict(list)
    waiting = payments_without_bt().filter(
        paid_at__gte=start, paid_at__lt=end, currency=store
    )
    for day, total in _sum_by_day(waiting, "paid_at").items():
        reasons[day].append(
            (
                "gross",
                -total,
                f"{_money(total)} of payments have no balance transaction yet "
                "(pending at Stripe; the settlement sync asks again)",
            )
        )
    charges = BalanceTransaction.objects.filter(
        stripe_created__gte=start,
        stripe_created__lt=end,
        currency=store,
        type__in=CHARGE_TYPES,
    )
    known = Payment.objects.filter(stripe_charge_id=OuterRef("charge_id"))
    orphans = charges.exclude(Exists(known))
    for day, total in _sum_by_day(orphans, "stripe_created").items():
        reasons[day].append(
            (
                "gross",
                total,
                f"{_money(total)} charged at Stripe with no payment in the ledger "
                "(its event not processed yet, or a charge outside the shop)",
            )
        )
    unsettled = payments_without_bt().filter(paid_at__gte=start, paid_at__lt=end)
    for day, currency, total in (
        unsettled.exclude(currency=store)
        .annotate(d=_day("paid_at"))
        .values_list("d", "currency")
        .annotate(t=Sum("amount_pennies"))
        .order_by("d", "currency")
    ):
        reasons[day].append(
            (
                "gross",
                0,
                f"{format_money(total, currency)} of payments in another currency "
                f"await Stripe's settlement in {store}: in revenue once settled",
            )
        )
    # A payment and its charge on different business days (a charge at 23:59:59).
    tz = reporting_tz()
    pairs = charges.filter(Exists(known)).values_list(
        "charge_id", "stripe_created", "amount_pennies"
    )
    paid = dict(
        Payment.objects.filter(
            stripe_charge_id__in=[c for c, _, _ in pairs]
        ).values_list("stripe_charge_id", "paid_at")
    )
    for charge, created, amount in pairs:
        if (
            charge in paid
            and paid[charge].astimezone(tz).date() != created.astimezone(tz).date()
        ):
            reasons[created.astimezone(tz).date()].append(
                (
                    "gross",
                    amount,
                    f"{charge}: the payment is dated the day before or after",
                )
            )
            reasons[paid[charge].astimezone(tz).date()].append(
                (
                    "gross",
                    -amount,
                    f"{charge}: its charge is dated the day before or after",
                )
            )
    failed = BalanceTransaction.objects.filter(
        stripe_created__gte=start,
        stripe_created__lt=end,
        currency=store,
        reporting_category__in=REFUND_CATEGORIES,
    ).filter(
        Exists(
            Refund.objects.filter(
                stripe_refund_id=OuterRef("source_id"), status=Refund.Status.FAILED
            )
        )
    )
    for day, total in _sum_by_day(failed, "stripe_created", sign=-1).items():
        reasons[day].append(
            (
                "refunds",
                total,
                "a refund that failed later: Stripe shows it and its reversal, the "
                "ledger neither",
            )
        )
    return reasons


def reasons_text(row: dict) -> str:
    return "; ".join(sentence for _, _, sentence in row["reasons"])
