"""Money to the bank: balance transactions and payouts (ARCHITECTURE.md, money path 8).

Every charge, refund, dispute debit or credit and payout has a Stripe balance
transaction (`txn_…`): its amount, Stripe's fee and the net, in the settlement
currency. They reach the ledger two ways:

- expanded inside an event's object (the offline gateway's, or an import of expanded
  history): `harvest` upserts them in the event's own transaction, after its handler;
- as bare ids (Stripe's webhooks never expand): `settlement_sync` asks Stripe for
  what is missing — a payment's or refund's or dispute's balance transaction, and
  the lines of every paid payout — outside any transaction, then writes the answer
  in a short transaction of its own. What Stripe has not made yet stays missing and
  the next run (every 5 minutes) asks again; monitoring names what waits too long.

Rows are linked by Stripe id, not foreign key, so the arrival order of Stripe objects
cannot matter; a payout's lines are the balance transactions that name it, except
the payout's own. Every value of a balance transaction is fixed by Stripe once made
but its status (pending → available), which only moves forward; a payout's newest
Stripe state wins by the one rule (`stripe_fields.newest_wins`).
"""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from payments.locks import lock_balance_transaction, lock_payout
from payments.models import BalanceTransaction, Dispute, Payment, Payout, Refund
from payments.stripe_fields import event_time, listed, newest_wins, text, ts

BT_STATUS_RANK = {"pending": 0, "available": 1}
PAYOUT_STATUS_RANK = {
    "pending": 0,
    "in_transit": 1,
    "paid": 2,
    "failed": 3,
    "canceled": 3,
}
RECONCILIATION_RANK = {"": 0, "not_applicable": 1, "in_progress": 1, "completed": 2}
# Balance-transaction reporting categories (Stripe's) that are money in from sales,
# money back to customers, and disputes; the fee of a dispute debit is a dispute fee.
CHARGE_CATEGORIES = ("charge",)
CHARGE_TYPES = ("charge", "payment")  # a card charge, or a bank debit's payment
REFUND_CATEGORIES = ("refund", "refund_failure")
DISPUTE_CATEGORIES = ("dispute", "dispute_reversal")


# -- balance transactions ---------------------------------------------------------


def _pennies(obj: dict, key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rate(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        return None
    return rate if rate.is_finite() and rate > 0 else None


def bt_fields(obj: dict) -> dict | None:
    """The ledger fields of a Stripe balance transaction, or None if `obj` is not a
    whole one (an unexpanded id, a partial dict from an old payload)."""
    if not isinstance(obj, dict) or not text(obj, "id").startswith("txn_"):
        return None
    amount, fee, net = (_pennies(obj, k) for k in ("amount", "fee", "net"))
    created = ts(obj.get("created"))
    if amount is None or created is None:
        return None
    fee = fee or 0
    details = [d for d in obj.get("fee_details") or [] if isinstance(d, dict)]
    return {
        "type": (text(obj, "type") or "unknown")[:40],
        "reporting_category": (text(obj, "reporting_category") or "")[:40],
        "amount_pennies": amount,
        "fee_pennies": fee,
        "net_pennies": net if net is not None else amount - fee,
        "currency": (text(obj, "currency") or "").upper()[:3],
        "exchange_rate": _rate(obj.get("exchange_rate")),
        "fee_details": [
            {k: d.get(k) for k in ("type", "amount", "currency", "description")}
            for d in details
        ],
        "status": (text(obj, "status") or "pending")[:12],
        "available_on": ts(obj.get("available_on")) or created,
        "stripe_created": created,
        "source_id": text(obj, "source")[:255],
    }


def bt_record(
    obj: dict, *, charge: str = "", payout: str = ""
) -> BalanceTransaction | None:
    """Upsert one balance transaction; `charge` (the charge it belongs to) and
    `payout` (the payout that paid it out) are learnt once and never lost.
    Returns None for a dict that is not a whole balance transaction."""
    fields = bt_fields(obj)
    if fields is None:
        return None
    stripe_id = obj["id"]
    if fields["type"] == "charge" or fields["type"] == "payment":
        charge = charge or fields["source_id"]
    bt = lock_balance_transaction(stripe_id)
    if bt is None:
        try:
            with transaction.atomic():
                return BalanceTransaction.objects.create(
                    stripe_id=stripe_id,
                    charge_id=charge,
                    payout_stripe_id=payout,
                    **fields,
                )
        except IntegrityError:  # recorded meanwhile by another transaction
            bt = lock_balance_transaction(stripe_id)
    if BT_STATUS_RANK.get(bt.status, 0) > BT_STATUS_RANK.get(fields["status"], 0):
        fields["status"] = bt.status  # a status only moves forward
    for name, value in fields.items():
        setattr(bt, name, value)
    bt.charge_id = bt.charge_id or charge
    bt.payout_stripe_id = bt.payout_stripe_id or payout
    bt.save()
    return bt


def expanded_balance_transactions(obj: dict) -> list[tuple[dict, str]]:
    """The whole balance transactions inside a Stripe object, each with the charge
    it belongs to: a charge's (and its listed refunds'), a PaymentIntent's latest
    charge's, a refund's (and its failure's), a dispute's, a payout's."""
    if not isinstance(obj, dict):
        return []
    kind = obj.get("object")
    found: list[tuple[dict, str]] = []

    def add(value, charge):
        if isinstance(value, dict):
            found.append((value, charge))

    if kind == "charge":
        add(obj.get("balance_transaction"), obj.get("id", ""))
        for refund in listed(obj, "refunds"):
            found += expanded_balance_transactions(
                dict(
                    refund, object="refund", charge=text(refund, "charge") or obj["id"]
                )
            )
    elif kind == "payment_intent" and isinstance(obj.get("latest_charge"), dict):
        found += expanded_balance_transactions(obj["latest_charge"])
    elif kind == "refund":
        add(obj.get("balance_transaction"), text(obj, "charge"))
        add(obj.get("failure_balance_transaction"), text(obj, "charge"))
    elif kind == "dispute":
        for bt in listed(obj, "balance_transactions"):
            add(bt, text(obj, "charge"))
    elif kind == "payout":
        add(obj.get("balance_transaction"), "")
        add(obj.get("failure_balance_transaction"), "")
    return found


def harvest(payload: dict) -> int:
    """Upsert the expanded balance transactions of an event's object (inside the
    event's transaction, after its handler: locks come last). Returns how many."""
    obj = payload.get("data", {}).get("object") if isinstance(payload, dict) else None
    found = sorted(expanded_balance_transactions(obj), key=lambda f: f[0].get("id", ""))
    return sum(1 for bt, charge in found if bt_record(bt, charge=charge) is not None)


# -- payouts ----------------------------------------------------------------------


def _date(value) -> dt.date | None:
    moment = ts(value)
    return moment.date() if moment else None


def payout_record(*, obj: dict, seen_at: dt.datetime, event_id: str = "") -> Payout:
    """Upsert a payout from a payout.* event; its newest Stripe state wins."""
    status = text(obj, "status") or "pending"
    fields = {
        "amount_pennies": _pennies(obj, "amount") or 0,
        "currency": (text(obj, "currency") or "").upper()[:3],
        "status": status[:12],
        "status_at": seen_at,
        "status_event_id": event_id,
        "arrival_date": _date(obj.get("arrival_date")),
        "method": (text(obj, "method") or "")[:16],
        "automatic": obj.get("automatic") is not False,
        "failure_code": (text(obj, "failure_code") or "")[:64],
        "failure_message": (text(obj, "failure_message") or "")[:500],
        "stripe_balance_transaction_id": text(obj, "balance_transaction")[:255],
    }
    reconciliation = text(obj, "reconciliation_status")
    payout = lock_payout(obj["id"])
    if payout is None:
        try:
            with transaction.atomic():
                return Payout.objects.create(
                    stripe_payout_id=obj["id"],
                    stripe_created=ts(obj.get("created")) or seen_at,
                    reconciliation_status=reconciliation,
                    **fields,
                )
        except IntegrityError:
            payout = lock_payout(obj["id"])
    if newest_wins(
        new=(seen_at, status),
        old=(payout.status_at, payout.status),
        ranks=PAYOUT_STATUS_RANK,
        new_id=event_id,
        old_id=payout.status_event_id,
    ):
        for name, value in fields.items():
            setattr(payout, name, value)
    if RECONCILIATION_RANK.get(reconciliation, 0) > RECONCILIATION_RANK.get(
        payout.reconciliation_status, 0
    ):
        payout.reconciliation_status = reconciliation
    payout.save()
    return payout


def payout_event(payload: dict) -> None:
    """payout.created / .updated / .paid / .failed / .canceled /
    .reconciliation_completed."""
    payout_record(
        obj=payload["data"]["object"],
        seen_at=event_time(payload),
        event_id=payload.get("id", ""),
    )


def payout_lines_apply(*, payout_id: str, lines: list[dict]) -> int:
    """The balance transactions Stripe lists for a payout: upserted, each naming the
    payout; the payout marked as listed. One short transaction."""
    with transaction.atomic():
        payout = lock_payout(payout_id)
        if payout is None:
            return 0
        recorded = 0
        for obj in sorted(lines, key=lambda o: text(o, "id")):
            if bt_record(obj, payout=payout_id) is not None:
                recorded += 1
        # A line listed before (under another payout, it cannot be) keeps its payout.
        BalanceTransaction.objects.filter(
            stripe_id__in=[text(o, "id") for o in lines], payout_stripe_id=""
        ).update(payout_stripe_id=payout_id)
        payout.lines_fetched_at = timezone.now()
        payout.save(update_fields=["lines_fetched_at", "updated_at"])
    return recorded


def payouts_reconciled(queryset=None):
    """Payouts with their lines (`lines`, `lines_net_pennies`) and
    `difference_pennies` = amount − Σ net of the lines (the payout's own balance
    transaction is not a line). The one place the reconciliation rule is written."""
    queryset = Payout.objects.all() if queryset is None else queryset
    lines = BalanceTransaction.objects.filter(
        payout_stripe_id=OuterRef("stripe_payout_id")
    )
    lines = lines.exclude(source_id=OuterRef("stripe_payout_id"))
    totals = lines.order_by().values("payout_stripe_id")
    return queryset.annotate(
        lines=Coalesce(Subquery(totals.annotate(n=Count("id")).values("n")[:1]), 0),
        lines_net_pennies=Coalesce(
            Subquery(totals.annotate(s=Sum("net_pennies")).values("s")[:1]), 0
        ),
    )


def payout_difference(payout) -> int | None:
    """amount − Σ net of its lines, for an annotated payout; None before its lines
    are listed (nothing to compare yet)."""
    if payout.lines_fetched_at is None:
        return None
    return payout.amount_pennies - payout.lines_net_pennies


def payout_lines(payout_id: str):
    """The lines of a payout: its balance transactions but its own."""
    return BalanceTransaction.objects.filter(payout_stripe_id=payout_id).exclude(
        source_id=payout_id
    )


def payout_listable(payout: Payout) -> bool:
    """Stripe lists a payout's balance transactions once it is paid and, for an
    automatic payout, once its reconciliation is not in progress."""
    return payout.status == Payout.Status.PAID and (
        not payout.automatic or payout.reconciliation_status != "in_progress"
    )


# -- what is missing, and the sync that asks Stripe for it -------------------------


def _has_bt(**match) -> Exists:
    return Exists(BalanceTransaction.objects.filter(**match))


def payments_without_bt():
    """Payments with a charge id and no balance transaction for that charge."""
    return Payment.objects.filter(stripe_charge_id__isnull=False).exclude(
        _has_bt(charge_id=OuterRef("stripe_charge_id"), type__in=CHARGE_TYPES)
    )


def refunds_without_bt():
    return Refund.objects.filter(status=Refund.Status.SUCCEEDED).exclude(
        _has_bt(source_id=OuterRef("stripe_refund_id"))
    )


def disputes_without_bt():
    return Dispute.objects.filter(funds_withdrawn_pennies__gt=0).exclude(
        _has_bt(source_id=OuterRef("stripe_dispute_id"))
    )


def payouts_to_list():
    """Paid payouts whose lines Stripe can list (an automatic one once its
    reconciliation is no longer in progress), and failed ones: what a failed payout
    would have paid is fixed too, and the accountant checks it against the amount
    the bank returned."""
    paid = Q(status=Payout.Status.PAID) & ~Q(
        automatic=True, reconciliation_status="in_progress"
    )
    return Payout.objects.filter(lines_fetched_at__isnull=True).filter(
        paid | Q(status=Payout.Status.FAILED)
    )


# -- in the store currency ---------------------------------------------------------

# The one rule for money in another currency (definitions 1.2): a payment, refund or
# dispute in the store currency counts at its own amount; one in another currency at
# what its balance transactions settled in the store currency, once Stripe has made
# them (not counted before: the reconciliation names what waits).


def _settled(match: str, ref: str, **filters):
    """Σ amount of the store-currency balance transactions with `match` = the row's
    `ref` (None when there is none)."""
    rows = (
        BalanceTransaction.objects.filter(
            **{match: OuterRef(ref)},
            currency=settings.STORE_CURRENCY.upper(),
            **filters,
        )
        .order_by()
        .values(match)
        .annotate(total=Sum("amount_pennies"))
        .values("total")[:1]
    )
    return Subquery(rows, output_field=BigIntegerField())


def _in_store(amount, settled):
    return Case(
        When(currency=settings.STORE_CURRENCY.upper(), then=amount),
        default=settled,
        output_field=BigIntegerField(),
    )


def payments_in_store_currency(queryset):
    """`store_pennies`: the payment in the store currency (None while unsettled)."""
    settled = _settled("charge_id", "stripe_charge_id", type__in=CHARGE_TYPES)
    return queryset.annotate(store_pennies=_in_store(F("amount_pennies"), settled))


def refunds_in_store_currency(queryset):
    """`store_pennies`: what the refund took back, in the store currency."""
    settled = _settled("source_id", "stripe_refund_id", type="refund")
    return queryset.annotate(
        store_pennies=_in_store(F("amount_pennies"), Value(0) - settled)
    )


def disputes_in_store_currency(queryset):
    """`withdrawn_store_pennies` / `reinstated_store_pennies`: the funds a dispute
    took and gave back, in the store currency (its fee apart: a dispute fee)."""
    withdrawn = _settled("source_id", "stripe_dispute_id", reporting_category="dispute")
    reinstated = _settled(
        "source_id", "stripe_dispute_id", reporting_category="dispute_reversal"
    )
    return queryset.annotate(
        withdrawn_store_pennies=_in_store(
            F("funds_withdrawn_pennies"), Value(0) - withdrawn
        ),
        reinstated_store_pennies=_in_store(F("funds_reinstated_pennies"), reinstated),
    )


# -- fees ---------------------------------------------------------------------------


# The one fee rule (snapshots, reconciliation, exports): the fee of a dispute debit
# is a dispute fee, every other fee a processing fee.
FEE_SUMS = {
    "stripe_fees": lambda: Coalesce(
        Sum("fee_pennies", filter=~Q(reporting_category="dispute")), 0
    ),
    "dispute_fees": lambda: Coalesce(
        Sum("fee_pennies", filter=Q(reporting_category="dispute")), 0
    ),
}


def fee_totals(queryset) -> dict[str, int]:
    """Stripe's processing fees and dispute fees of these balance transactions, in
    the settlement currency."""
    totals = queryset.aggregate(**{k: f() for k, f in FEE_SUMS.items()})
    return {k: int(v) for k, v in totals.items()}


def fee_totals_by_day(queryset, day) -> dict:
    """`fee_totals` per value of the `day` expression."""
    rows = (
        queryset.annotate(day=day)
        .values("day")
        .annotate(**{k: f() for k, f in FEE_SUMS.items()})
        .order_by()
    )
    return {r["day"]: {k: int(r[k]) for k in FEE_SUMS} for r in rows}


def expected_fee_pennies(amount_pennies: int) -> int:
    """The configured pricing's fee for a charge (rounded half up)."""
    variable = amount_pennies * settings.STRIPE_EXPECTED_FEE_BPS
    return (variable + 5000) // 10000 + settings.STRIPE_EXPECTED_FEE_FIXED_PENNIES


def balance_transactions_enriched(queryset=None):
    """Balance transactions with what they belong to, by Stripe id: the payment's
    PaymentIntent and order number (through the charge), the refund or dispute id
    (their source), and `stripe_fee_pennies` / `dispute_fee_pennies` by the fee rule."""
    from django.db.models import Case, CharField, Value, When

    queryset = BalanceTransaction.objects.all() if queryset is None else queryset
    payment = Payment.objects.filter(stripe_charge_id=OuterRef("charge_id"))
    return queryset.annotate(
        payment_intent=Subquery(payment.values("stripe_payment_intent")[:1]),
        order_number=Subquery(payment.values("order__number")[:1]),
        refund_id=Case(
            When(
                reporting_category__in=REFUND_CATEGORIES,
                source_id__startswith="re_",
                then="source_id",
            ),
            default=Value(""),
            output_field=CharField(),
        ),
        dispute_id=Case(
            When(reporting_category__in=DISPUTE_CATEGORIES, then="source_id"),
            default=Value(""),
            output_field=CharField(),
        ),
    )
