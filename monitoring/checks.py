"""The data-quality checks. Each is a function that returns its findings now; the
runner (monitoring.services.checks_run) turns findings into issues.

Each check is of one kind: an integrity check finds books or a pipeline that
disagree (it fails `run_checks --fail-on-issues`); an attention check finds work
for ops in healthy books, such as a dispute to answer (it fails the gate only
with `--strict`). docs/runbook.md lists the split and the reason for each."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from analyticsapp.kpis import default_as_of
from analyticsapp.models import DailySnapshot
from analyticsapp.services.snapshots import daily_money, gross_of
from catalog.models import StockMovement, StockReservation, Variant
from catalog.selectors import variants_with_availability
from core.mail import kind_label
from core.models import Message
from core.money import format_money, store_currency
from core.timeutils import day_bounds_utc
from orders.models import Order
from payments.handlers import HANDLERS
from payments.models import (
    BalanceTransaction,
    Dispute,
    Payment,
    Payout,
    Refund,
    RefundRequest,
    StripeEvent,
)
from payments.services.settlement import (
    expected_fee_pennies,
    payments_without_bt,
    payout_difference,
    payouts_reconciled,
)

Severity = ("critical", "high", "medium", "low")
INTEGRITY, ATTENTION = "integrity", "attention"
KINDS = {
    INTEGRITY: "Integrity: the books or the pipeline disagree",
    ATTENTION: "Needs attention: work for ops, not a fault in the books",
}


@dataclass(frozen=True)
class Finding:
    fingerprint: str
    message: str
    evidence: dict = field(default_factory=dict)
    object_type: str = ""
    object_id: str = ""


@dataclass(frozen=True)
class Check:
    name: str
    severity: str
    description: str
    run: Callable[[], list[Finding]]
    kind: str = INTEGRITY


REGISTRY: dict[str, Check] = {}


def check(name: str, severity: str, description: str, kind: str = INTEGRITY):
    assert severity in Severity and kind in KINDS

    def register(fn):
        REGISTRY[name] = Check(name, severity, description, fn, kind)
        return fn

    return register


def checks_of_kind(kind: str) -> list[str]:
    return [name for name, c in REGISTRY.items() if c.kind == kind]


def _money(pennies, currency):
    """Every amount in its own currency: a USD dispute reads "$10.00", never £."""
    return format_money(pennies, currency)


def _succeeded_refunds(by="payment_id", **conditions):
    """Succeeded refunds summed per outer row (a payment by default, or an order
    with by="payment__order_id"), 0 when there are none."""
    return Coalesce(
        Subquery(
            Refund.objects.filter(
                **{by: OuterRef("pk")}, status="succeeded", **conditions
            )
            .values(by)
            .annotate(s=Sum("amount_pennies"))
            .values("s"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


@check(
    "order_paid_without_payment",
    "critical",
    "An order is paid but no payment is applied to it.",
)
def order_paid_without_payment():
    orders = Order.objects.filter(paid_at__isnull=False).exclude(payments__applied=True)
    return [
        Finding(
            f"order:{o.pk}",
            f"Order {o.number} is {o.status} but has no applied payment.",
            {"order": o.number, "status": o.status, "paid_at": str(o.paid_at)},
            "orders.order",
            str(o.pk),
        )
        for o in orders[:500]
    ]


@check(
    "payment_not_applied",
    "high",
    "Money came in for an order that it did not mark paid (oversell, mismatch, "
    "duplicate, after cancel), and it is not refunded yet.",
)
def payment_not_applied():
    payments = (
        Payment.objects.filter(order__isnull=False, applied=False)
        .select_related("order")
        .annotate(refunded=_succeeded_refunds())
        .filter(refunded__lt=F("amount_pennies"))
    )
    return [
        Finding(
            f"payment:{p.stripe_id}",
            f"{p.stripe_id} ({_money(p.amount_pennies, p.currency)}) for order "
            f"{p.order.number} was not applied ({p.problem or 'unknown'}); refund it "
            "or fix the order.",
            {
                "payment": p.stripe_id,
                "problem": p.problem,
                "amount": p.amount_pennies,
                "currency": p.currency,
                "refunded": p.refunded,
            },
            "payments.payment",
            str(p.pk),
        )
        for p in payments[:500]
    ]


@check(
    "order_refunds_mismatch",
    "critical",
    "An order's refund fields disagree with the refund ledger.",
)
def order_refunds_mismatch():
    ledger = _succeeded_refunds(by="payment__order_id", payment__applied=True)
    orders = Order.objects.annotate(ledger=ledger).exclude(refunded_pennies=F("ledger"))
    findings = []
    for o in orders.iterator():
        capped = min(o.ledger, o.total_pennies)
        if o.refunded_pennies == capped:
            continue
        findings.append(
            Finding(
                f"order:{o.pk}",
                f"Order {o.number} says {_money(o.refunded_pennies, o.currency)} "
                f"refunded; the refund ledger says {_money(capped, o.currency)}.",
                {
                    "order": o.number,
                    "currency": o.currency,
                    "order_refunded": o.refunded_pennies,
                    "ledger_refunded": capped,
                },
                "orders.order",
                str(o.pk),
            )
        )
    return findings


@check(
    "refunds_exceed_payment",
    "critical",
    "Succeeded refunds add up to more than their payment.",
)
def refunds_exceed_payment():
    payments = Payment.objects.annotate(refunded=_succeeded_refunds()).filter(
        refunded__gt=F("amount_pennies")
    )
    return [
        Finding(
            f"payment:{p.stripe_id}",
            f"{p.stripe_id}: refunds {_money(p.refunded, p.currency)} exceed the "
            f"payment {_money(p.amount_pennies, p.currency)}.",
            {
                "payment": p.stripe_id,
                "amount": p.amount_pennies,
                "currency": p.currency,
                "refunded": p.refunded,
            },
            "payments.payment",
            str(p.pk),
        )
        for p in payments
    ]


@check(
    "stock_ledger_mismatch",
    "critical",
    "Stock on hand differs from the sum of its movements.",
)
def stock_ledger_mismatch():
    moved = Coalesce(
        Subquery(
            StockMovement.objects.filter(variant_id=OuterRef("pk"))
            .values("variant_id")
            .annotate(s=Sum("delta"))
            .values("s"),
            output_field=IntegerField(),
        ),
        Value(0),
    )
    variants = Variant.objects.annotate(moved=moved).exclude(stock_on_hand=F("moved"))
    return [
        Finding(
            f"variant:{v.pk}",
            f"{v.sku}: {v.stock_on_hand} on hand; its movements add up to {v.moved}.",
            {"sku": v.sku, "on_hand": v.stock_on_hand, "movements": v.moved},
            "catalog.variant",
            str(v.pk),
        )
        for v in variants
    ]


@check(
    "negative_available_stock",
    "high",
    "More units are held by live checkouts than are on hand.",
)
def negative_available_stock():
    variants = variants_with_availability(Variant.objects.all()).filter(available__lt=0)
    return [
        Finding(
            f"variant:{v.pk}",
            f"{v.sku}: {v.reserved} held by checkouts but {v.stock_on_hand} on hand.",
            {"sku": v.sku, "on_hand": v.stock_on_hand, "reserved": v.reserved},
            "catalog.variant",
            str(v.pk),
        )
        for v in variants
    ]


@check(
    "expired_reservations_not_released",
    "medium",
    "Stock holds past their expiry were not swept (is the 5-minute job running?).",
)
def expired_reservations_not_released():
    grace = timezone.now() - dt.timedelta(minutes=15)
    stale = StockReservation.objects.lapsed(now=grace)
    count = stale.count()
    if not count:
        return []
    return [
        Finding(
            "expired-holds",
            f"{count} expired stock hold(s) not released.",
            {
                "count": count,
                "oldest": str(stale.order_by("expires_at").first().expires_at),
            },
        )
    ]


# A bank debit (SEPA, Bacs) clears within about five business days.
BANK_PAYMENT_DAYS = dt.timedelta(days=7)


@check(
    "stale_pending_orders",
    "low",
    "Orders waiting for payment for more than a day (a bank payment, for a week).",
    kind=ATTENTION,
)
def stale_pending_orders():
    now = timezone.now()
    old = Order.objects.filter(
        status=Order.Status.PENDING,
        created_at__lt=now - dt.timedelta(days=1),
    ).exclude(payment_processing_since__gt=now - BANK_PAYMENT_DAYS)
    return [
        Finding(
            f"order:{o.pk}",
            f"Order {o.number} waits for payment since {o.created_at:%d %b %H:%M}.",
            {"order": o.number, "created_at": str(o.created_at)},
            "orders.order",
            str(o.pk),
        )
        for o in old[:500]
    ]


@check(
    "stripe_events_stuck",
    "high",
    "Stripe events failed, or pending for more than 15 minutes.",
)
def stripe_events_stuck():
    cutoff = timezone.now() - dt.timedelta(minutes=15)
    events = StripeEvent.objects.filter(
        Q(status="failed") | Q(status="pending", received_at__lt=cutoff)
    ).defer("payload")
    return [
        Finding(
            f"event:{e.event_id}",
            f"{e.type} {e.event_id} is {e.status}"
            + (f" (waits for {e.awaiting})" if e.awaiting else "")
            + (f": {e.last_error[:200]}" if e.last_error else "."),
            {
                "event": e.event_id,
                "type": e.type,
                "status": e.status,
                "attempts": e.attempts,
                "awaiting": e.awaiting,
            },
            "payments.stripeevent",
            str(e.pk),
        )
        for e in events[:500]
    ]


@check(
    "unknown_event_types",
    "low",
    "Stripe sends event types no handler knows (turn them off in the Dashboard, or "
    "waive).",
)
def unknown_event_types():
    rows = (
        StripeEvent.objects.exclude(type__in=list(HANDLERS))
        .values("type")
        .annotate(n=Count("id"))
        .order_by("type")
    )
    return [
        Finding(
            f"type:{r['type']}",
            f"{r['n']} {r['type']} event(s) received; no handler knows this type.",
            {"type": r["type"], "count": r["n"]},
        )
        for r in rows
    ]


@check(
    "api_version_mismatch",
    "medium",
    "Events arrive in an API version other than the pinned one.",
)
def api_version_mismatch():
    pinned = settings.STRIPE_API_VERSION
    since = timezone.now() - dt.timedelta(days=30)
    rows = (
        StripeEvent.objects.filter(received_at__gte=since)
        .exclude(api_version=pinned)
        .exclude(api_version="")
        .values("api_version")
        .annotate(n=Count("id"))
        .order_by("api_version")
    )
    return [
        Finding(
            f"version:{r['api_version']}",
            f"{r['n']} event(s) in API version {r['api_version']}; pinned is {pinned}.",
            {"api_version": r["api_version"], "pinned": pinned, "count": r["n"]},
        )
        for r in rows
    ]


@check("webhook_processing_lag", "medium", "Stripe events waited long to be processed.")
def webhook_processing_lag():
    now = timezone.now()
    lag = ExpressionWrapper(
        F("processed_at") - F("received_at"), output_field=DurationField()
    )
    slow = (
        StripeEvent.objects.filter(received_at__gte=now - dt.timedelta(hours=24))
        .filter(processed_at__gt=F("received_at") + dt.timedelta(seconds=60))
        .annotate(lag=lag)
        .aggregate(n=Count("id"), worst=Max("lag"))
    )
    unprocessed = StripeEvent.objects.filter(
        status="received", received_at__lt=now - dt.timedelta(minutes=5)
    ).count()
    if not slow["n"] and not unprocessed:
        return []
    worst = slow["worst"].total_seconds() if slow["worst"] else 0
    return [
        Finding(
            "lag",
            f"{slow['n']} event(s) took over 60 s to process in the last 24 h; "
            f"{unprocessed} received but never processed.",
            {
                "slow": slow["n"],
                "worst_seconds": round(worst),
                "unprocessed": unprocessed,
            },
        )
    ]


@check(
    "snapshot_ledger_mismatch",
    "critical",
    "A day's snapshot differs from the ledger (last 90 days): rebuild it.",
)
def snapshot_ledger_mismatch():
    end = default_as_of()
    start = end - dt.timedelta(days=89)
    snapshots = {
        s.day: s for s in DailySnapshot.objects.filter(day__range=(start, end))
    }
    if not snapshots:
        return []
    first = min(snapshots)
    money = daily_money(day_bounds_utc(first)[0], day_bounds_utc(end)[1])
    findings = []
    for day, snap in sorted(snapshots.items()):
        ledger = money.get(day, {})
        gross = gross_of(ledger)
        expected = {
            "gross_revenue_pennies": gross,
            "refunds_pennies": ledger.get("refunds_pennies", 0),
            "dispute_losses_pennies": ledger.get("dispute_losses_pennies", 0),
            "stripe_fees_pennies": ledger.get("stripe_fees_pennies", 0),
            "dispute_fees_pennies": ledger.get("dispute_fees_pennies", 0),
        }
        diffs = {
            k: [getattr(snap, k), v]
            for k, v in expected.items()
            if getattr(snap, k) != v
        }
        if diffs:
            findings.append(
                Finding(
                    f"day:{day}",
                    f"Snapshot for {day} differs from the ledger: "
                    + ", ".join(f"{k} {a} vs {b}" for k, (a, b) in diffs.items()),
                    {
                        "day": str(day),
                        "currency": store_currency(),
                        "snapshot_vs_ledger": diffs,
                    },
                )
            )
    return findings


@check(
    "refund_requests_unanswered",
    "high",
    "A refund ops asked for has had no answer from Stripe for 30 minutes (the sweep "
    "asks again every 10 minutes with the same key): the customer waits.",
)
def refund_requests_unanswered():
    requests = RefundRequest.objects.filter(
        status=RefundRequest.Status.REQUESTED,
        created_at__lt=timezone.now() - dt.timedelta(minutes=30),
    ).select_related("order")
    return [
        Finding(
            f"refund_request:{r.idempotency_key}",
            f"A refund of {_money(r.amount_pennies, r.currency)} for order "
            f"{r.order.number}, asked {r.created_at:%d %b %H:%M}, has no answer "
            f"from Stripe after {r.attempts} tries "
            f"({r.last_error or 'no error recorded'}).",
            {"order": r.order.number, "amount": r.amount_pennies,
             "currency": r.currency, "attempts": r.attempts,
             "last_error": r.last_error},
            "payments.refundrequest",
            str(r.pk),
        )
        for r in requests[:500]
    ]  # fmt: skip


@check(
    "open_disputes",
    "high",
    "Disputes waiting for a response or a decision.",
    kind=ATTENTION,
)
def open_disputes():
    return [
        Finding(
            f"dispute:{d.stripe_dispute_id}",
            f"Dispute {d.stripe_dispute_id} ({d.reason or 'no reason'}) for "
            f"{_money(d.amount_pennies, d.currency)} is {d.status}.",
            {
                "dispute": d.stripe_dispute_id,
                "status": d.status,
                "amount": d.amount_pennies,
                "currency": d.currency,
            },
            "payments.dispute",
            str(d.pk),
        )
        for d in Dispute.objects.all()
        if d.is_open
    ]


@check(
    "subscriptions_paid_not_active",
    "high",
    "A subscription's invoice was paid after the subscription ended or while it was "
    "never active: the customer paid for nothing.",
)
def subscriptions_paid_not_active():
    from subscriptions.models import Subscription

    latest = Subquery(
        Payment.objects.filter(
            source=Payment.Source.SUBSCRIPTION,
            stripe_subscription_id=OuterRef("stripe_subscription_id"),
        )
        .order_by("-paid_at")
        .values("paid_at")[:1]
    )
    findings = []
    for s in (
        Subscription.objects.exclude(status__in=["active", "past_due", "trialing"])
        .annotate(last_paid=latest)
        .exclude(last_paid=None)
    ):
        ended = s.ended_at or s.canceled_at
        if ended is not None and s.last_paid <= ended:
            continue
        findings.append(
            Finding(
                f"subscription:{s.stripe_subscription_id}",
                f"{s.stripe_subscription_id} is {s.status} but an invoice was paid "
                f"on {s.last_paid:%d %b %Y}.",
                {"subscription": s.stripe_subscription_id, "status": s.status,
                 "last_paid": str(s.last_paid), "ended": str(ended)},
                "subscriptions.subscription",
                str(s.pk),
            )
        )  # fmt: skip
    return findings


# -- money to the bank ---------------------------------------------------------------


@check(
    "payout_lines_mismatch",
    "critical",
    "A payout's amount differs from the net of the balance transactions Stripe lists "
    "for it: the money that reached the bank is not what the ledger says.",
)
def payout_lines_mismatch():
    listed = payouts_reconciled(Payout.objects.filter(lines_fetched_at__isnull=False))
    findings = []
    for payout in listed.order_by("stripe_created")[:1000]:
        difference = payout_difference(payout)
        if difference:
            findings.append(
                Finding(
                    f"payout:{payout.stripe_payout_id}",
                    f"Payout {payout.stripe_payout_id} of "
                    f"{_money(payout.amount_pennies, payout.currency)} differs from "
                    f"its {payout.lines} lines "
                    f"({_money(payout.lines_net_pennies, payout.currency)}) by "
                    f"{_money(difference, payout.currency)}.",
                    {"payout": payout.stripe_payout_id,
                     "amount": payout.amount_pennies,
                     "lines_net": payout.lines_net_pennies,
                     "difference": difference, "currency": payout.currency},
                    "payments.payout",
                    str(payout.pk),
                )
            )  # fmt: skip
    return findings


@check(
    "payout_failed",
    "critical",
    "A payout failed or was canceled and its money has not been paid out again: the "
    "bank did not receive it (resolved once a later payout pays the returned funds).",
)
def payout_failed():
    repaid = BalanceTransaction.objects.filter(
        type__in=("payout_failure", "payout_cancel"),
        source_id=OuterRef("stripe_payout_id"),
        payout_stripe_id__in=Payout.objects.filter(status=Payout.Status.PAID).values(
            "stripe_payout_id"
        ),
    )
    from django.db.models import Exists

    failed = (
        Payout.objects.filter(status__in=[Payout.Status.FAILED, Payout.Status.CANCELED])
        .exclude(Exists(repaid))
        .order_by("stripe_created")
    )
    return [
        Finding(
            f"payout:{p.stripe_payout_id}",
            f"Payout {p.stripe_payout_id} of {_money(p.amount_pennies, p.currency)} "
            f"{p.status}"
            + (f" ({p.failure_code}: {p.failure_message})" if p.failure_code else "")
            + "; its funds are not yet in a paid payout. Check the bank account in "
            "the Stripe Dashboard.",
            {"payout": p.stripe_payout_id, "status": p.status,
             "failure_code": p.failure_code, "amount": p.amount_pennies,
             "currency": p.currency},
            "payments.payout",
            str(p.pk),
        )
        for p in failed[:500]
    ]  # fmt: skip


@check(
    "payment_without_balance_transaction",
    "high",
    "A payment of the last 30 days has had no Stripe balance transaction (fee, net, "
    "payout) for longer than SETTLEMENT_GRACE_HOURS: the settlement sync cannot get "
    "it from Stripe.",
)
def payment_without_balance_transaction():
    now = timezone.now()
    cutoff = now - dt.timedelta(hours=settings.SETTLEMENT_GRACE_HOURS)
    waiting = payments_without_bt().filter(
        paid_at__lt=cutoff, paid_at__gte=now - dt.timedelta(days=30)
    )
    waiting = waiting.order_by("paid_at")
    return [
        Finding(
            f"payment:{p.stripe_charge_id}",
            f"Payment {p.stripe_payment_intent or p.stripe_charge_id} of "
            f"{_money(p.amount_pennies, p.currency)}, paid {p.paid_at:%d %b %H:%M}, "
            "has no balance transaction yet.",
            {"charge": p.stripe_charge_id, "amount": p.amount_pennies,
             "currency": p.currency, "paid_at": p.paid_at.isoformat()},
            "payments.payment",
            str(p.pk),
        )
        for p in waiting[:500]
    ]  # fmt: skip


def _round_half_away(numerator: int, denominator: int) -> int:
    sign = -1 if numerator < 0 else 1
    return sign * ((2 * abs(numerator) + denominator) // (2 * denominator))


@check(
    "fees_off_expected",
    "medium",
    "A day's Stripe fees on charges differ from the expected pricing "
    "(STRIPE_EXPECTED_FEE_BPS + STRIPE_EXPECTED_FEE_FIXED_PENNIES per charge) by more "
    "than STRIPE_FEE_TOLERANCE_BPS of the day's charges: a pricing change nobody "
    "noticed (last 30 days).",
    kind=ATTENTION,
)
def fees_off_expected():
    from collections import defaultdict

    from core.timeutils import reporting_tz

    end = day_bounds_utc(default_as_of())[1]
    start = end - dt.timedelta(days=30)
    tz = reporting_tz()
    days = defaultdict(lambda: [0, 0, 0])  # gross, fees, expected
    charges = BalanceTransaction.objects.filter(
        type__in=("charge", "payment"),
        stripe_created__gte=start,
        stripe_created__lt=end,
    ).values_list("stripe_created", "amount_pennies", "fee_pennies")
    for created, amount, fee in charges.iterator():
        day = days[created.astimezone(tz).date()]
        day[0] += amount
        day[1] += fee
        day[2] += expected_fee_pennies(amount)
    findings = []
    for day, (gross, fees, expected) in sorted(days.items()):
        if gross <= 0:
            continue
        # Compared exactly (no rounded bps), so a drift just past the tolerance is
        # caught above the pricing as below it; the evidence rounds half away.
        drift = (fees - expected) * 10000
        if abs(drift) > settings.STRIPE_FEE_TOLERANCE_BPS * gross:
            drift_bps = _round_half_away(drift, gross)
            findings.append(
                Finding(
                    f"fees:{day}",
                    f"Stripe fees on {day} were {_money(fees, store_currency())} on "
                    f"{_money(gross, store_currency())} of charges; the expected "
                    f"pricing gives {_money(expected, store_currency())} "
                    f"({drift_bps / 100:+.2f} percentage points).",
                    {"day": str(day), "gross": gross, "fees": fees,
                     "expected": expected, "drift_bps": drift_bps},
                )
            )  # fmt: skip
    return findings


# A gap in received events: longer than four times the usual interval between
# them (last 30 days), at least 6 hours, and at most Stripe's 3 days of retries.
GAP_MIN, GAP_MAX, GAP_FACTOR = dt.timedelta(hours=6), dt.timedelta(days=3), 4


@check(
    "stripe_events_gap",
    "high",
    "No Stripe event has arrived for unusually long while Stripe is configured: the "
    "webhook endpoint may be down (the hourly catch-up applies what it missed).",
)
def stripe_events_gap():
    if not settings.PAYMENTS_USE_STRIPE:
        return []  # offline payments: no Stripe to send anything
    now = timezone.now()
    last = StripeEvent.objects.aggregate(last=Max("received_at"))["last"]
    if last is None:
        return []  # nothing ever arrived: a shop before its first sale
    month = StripeEvent.objects.filter(received_at__gte=now - dt.timedelta(days=30))
    arrived = month.count()
    usual = dt.timedelta(days=30) / arrived if arrived else GAP_MAX
    allowed = min(max(GAP_FACTOR * usual, GAP_MIN), GAP_MAX)
    quiet = now - last
    if quiet <= allowed:
        return []
    hours = quiet.total_seconds() / 3600
    return [
        Finding(
            f"gap:{last.isoformat()}",
            f"No Stripe event for {hours:.0f} h (the last arrived {last:%Y-%m-%d %H:%M}"
            f" UTC; usually one every {usual.total_seconds() / 3600:.1f} h): is the "
            "webhook endpoint reachable? `manage.py sync_stripe` applies what Stripe "
            "sent meanwhile.",
            {
                "last_received": last.isoformat(),
                "quiet_hours": round(hours, 1),
                "allowed_hours": round(allowed.total_seconds() / 3600, 1),
                "events_last_30_days": arrived,
            },
        )
    ]


# A message still queued this long after it was recorded never reached a worker
# (the broker refused the publish, or the worker is down).
MESSAGE_STUCK_AFTER = dt.timedelta(minutes=30)


@check(
    "messages_failed",
    "high",
    "Emails to customers or staff failed after all their retries, or never left the "
    "queue: the mail settings or the provider need an operator.",
)
def messages_failed():
    """One finding for failed messages and one for stuck queued ones (not one per
    message: an alert about failing mail that itself fails must not open another
    issue); each resolves once `resend_messages` has sent them."""
    stuck_before = timezone.now() - MESSAGE_STUCK_AFTER
    findings = []
    for state, rows, words in (
        (
            "failed",
            Message.objects.filter(status=Message.Status.FAILED),
            "failed after their retries",
        ),
        (
            "queued",
            Message.objects.filter(
                status=Message.Status.QUEUED, created_at__lt=stuck_before
            ),
            f"queued for over {MESSAGE_STUCK_AFTER.seconds // 60} minutes",
        ),
    ):
        total = rows.count()
        if not total:
            continue
        latest = list(rows.order_by("-pk")[:20])
        by_kind = dict(
            rows.values_list("kind").annotate(n=Count("pk")).order_by("kind")
        )
        kinds = ", ".join(f"{n} {kind_label(k).lower()}" for k, n in by_kind.items())
        error = next((m.last_error for m in latest if m.last_error), "")
        findings.append(
            Finding(
                f"messages:{state}",
                f"{total} email(s) {words} ({kinds})"
                + (f"; last error: {error[:200]}" if error else "")
                + ". Fix the mail settings, then "
                f"`manage.py resend_messages --{state}`.",
                {
                    "count": total,
                    "by_kind": by_kind,
                    "messages": [m.pk for m in latest],
                    "last_error": error[:500],
                },
                "core.message",
                str(latest[0].pk),
            )
        )
    return findings
