"""The default demo is the same on any day, and passes the gate on every one.

`seed_demo` (its default customers and days) runs with the clock set to dates
spread over a year: New Year, month ends, both DST switch days (either side of
the switch), 29 February 2028, late at night and just after midnight. On each,
`run_checks --fail-on-issues` passes, and the books are the same up to the date
shift: every time in them, read as (days before today in London, London time of
day), is the same. Subscription renewals and period ends are the exception, by
design: Stripe bills on the start's day of the month, so their offsets follow the
months in between; the number of renewals, their amounts and each subscription's
status are compared instead. Shoppers' carts and open orders are placed at the
moment of seeding ("now").

Slow (a default seed takes about 20 s on SQLite), so marked `demo_dates`: the two
main test legs skip it and scripts/test.sh runs it as a gate of its own, the two
groups in parallel (xdist). Each group seeds the reference date first, so every
date is compared with the same books.
"""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command

from accounts.models import User
from catalog.models import StockMovement, Variant
from core.timeutils import reporting_tz
from monitoring.models import DataQualityIssue
from orders.models import Order
from payments.models import Dispute, Payment, Refund
from subscriptions.models import Subscription

pytestmark = [pytest.mark.demo_dates, pytest.mark.django_db(transaction=True)]

REFERENCE = "2027-06-15T09:00:00+00:00"
GROUPS = {
    "winter-and-spring": [
        "2027-01-01T00:30:00+00:00",  # New Year, just after midnight
        "2027-01-31T23:45:00+00:00",  # a month end, late at night
        "2027-02-28T12:00:00+00:00",  # the end of a short February
        "2027-03-28T00:59:00+00:00",  # DST day (March), just before the switch
        "2027-03-28T12:00:00+00:00",  # DST day (March), after it
        "2027-04-30T22:30:00+00:00",  # a month end, 23:30 in London
        "2028-02-29T10:00:00+00:00",  # 29 February
    ],
    "summer-and-autumn": [
        "2027-08-31T23:30:00+00:00",  # 00:30 on 1 September in London
        "2027-10-31T00:30:00+00:00",  # DST day (October): 01:30, first time
        "2027-10-31T01:30:00+00:00",  # DST day (October): 01:30, second time
        "2027-12-24T18:00:00+00:00",  # Christmas Eve
        "2027-12-31T23:59:00+00:00",  # New Year's Eve, a minute to midnight
        "2028-03-01T00:10:00+00:00",  # the day after 29 February
    ],
}


def _books(now: dt.datetime) -> dict:
    """The seeded books with every time as (days before today, London time)."""
    tz = reporting_tz()
    today = now.astimezone(tz).date()

    def at(moment):
        if moment is None or moment == now:
            return "now" if moment else None
        local = moment.astimezone(tz)
        return ((local.date() - today).days, local.time().isoformat())

    orders = list(Order.objects.order_by("pk").prefetch_related("lines"))
    index = {o.pk: i for i, o in enumerate(orders)}

    def order_of(payment):
        return index.get(payment.order_id) if payment else None

    order_payments, invoice_payments = [], []
    for p in Payment.objects.select_related("customer").order_by("pk"):
        if p.source == Payment.Source.SUBSCRIPTION:
            invoice_payments.append(
                (p.customer.email, p.amount_pennies, p.currency, p.applied)
            )
        else:
            order_payments.append(
                (order_of(p), p.source, p.amount_pennies, p.currency, p.applied,
                 p.problem, at(p.paid_at))
            )  # fmt: skip
    return {
        "customers": sorted(User.objects.values_list("email", flat=True)),
        "orders": [
            (
                o.email,
                o.status,
                o.refund_status,
                o.currency,
                o.subtotal_pennies,
                o.shipping_pennies,
                o.total_pennies,
                o.refunded_pennies,
                o.shipping_city,
                at(o.created_at),
                at(o.paid_at),
                at(o.fulfilled_at),
                at(o.canceled_at),
                at(o.refunded_at),
                at(o.payment_processing_since),
                [
                    (
                        line.sku,
                        line.quantity,
                        line.unit_price_pennies,
                        line.line_total_pennies,
                    )
                    for line in o.lines.all()
                ],
            )
            for o in orders
        ],
        "order payments": order_payments,
        "invoice payments": sorted(invoice_payments),
        "refunds": [
            (
                order_of(r.payment),
                r.amount_pennies,
                r.currency,
                r.status,
                r.reason,
                at(r.stripe_created),
            )
            for r in Refund.objects.select_related("payment").order_by("pk")
        ],
        "disputes": [
            (
                order_of(d.payment),
                d.amount_pennies,
                d.currency,
                d.status,
                d.reason,
                at(d.stripe_created),
            )
            for d in Dispute.objects.select_related("payment").order_by("pk")
        ],
        "subscriptions": sorted(
            (
                s.customer.email,
                s.variant.sku,
                s.status,
                s.currency,
                s.mrr_pennies,
                s.cancel_at_period_end,
                at(s.started_at),
                at(s.cancel_requested_at),
                s.ended_at is not None,
            )
            for s in Subscription.objects.select_related("customer", "variant")
        ),
        "stock": list(
            Variant.objects.order_by("sku").values_list("sku", "stock_on_hand")
        ),
        "stock movements": [
            (m.variant.sku, m.delta, m.reason, at(m.created_at))
            for m in StockMovement.objects.select_related("variant").order_by("pk")
        ],
    }


def _seed_and_check(moment: str) -> dict:
    now = dt.datetime.fromisoformat(moment)
    call_command("flush", "--noinput")  # as between tests: migrations' rows back
    with time_machine.travel(now, tick=False):
        call_command("seed_demo")
        try:
            call_command("run_checks", "--fail-on-issues")
        except Exception as exc:
            issues = DataQualityIssue.objects.filter(status="open")
            raise AssertionError(
                f"seeded on {moment}: {exc}: "
                + "; ".join(f"{i.check_name}: {i.message}" for i in issues)
            ) from exc
        return _books(now)


def _first_difference(reference: dict, books: dict) -> str:
    for part, rows in reference.items():
        if books[part] != rows:
            if len(books[part]) != len(rows):
                return f"{part}: {len(books[part])} rows, not {len(rows)}"
            i, row = next(
                (i, row) for i, row in enumerate(books[part]) if row != rows[i]
            )
            return f"{part}[{i}]: {row} instead of {rows[i]}"
    return ""


@pytest.mark.parametrize("group", list(GROUPS))
def test_the_default_demo_passes_the_gate_and_is_the_same_on_any_date(group, capsys):
    reference = _seed_and_check(REFERENCE)
    assert len(reference["orders"]) > 100
    assert [d[3] for d in reference["disputes"]][-1] == "needs_response"
    differences = {}
    for moment in GROUPS[group]:
        books = _seed_and_check(moment)
        if books != reference:
            differences[moment] = _first_difference(reference, books)
    capsys.readouterr()  # the seeds' progress lines
    assert not differences, differences
