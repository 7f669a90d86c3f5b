"""Subscriptions and their invoice payments, from Stripe Billing events.

Every subscription event is kept as a SubscriptionChange dated by Stripe's event
time, whatever order it arrived in; the Subscription row holds the newest one
(Stripe time, then a fixed rank of states, then the event id), so any order of
events converges. MRR is normalised to a month: yearly / 12, weekly x 52 / 12,
daily x 365 / 12, divided by the interval count, computed exactly (fractions) and
rounded half up to a penny once per subscription; only active and past-due
subscriptions count, never trials, free plans or tax.
"""

import math
from fractions import Fraction

from django.db import IntegrityError, transaction

from accounts.models import User
from catalog.models import Variant
from payments.handlers.outcomes import NotYet
from payments.models import Payment
from payments.services.ledger import customer_for
from payments.services.ledger.invoices import (
    invoice_payment_link as ledger_invoice_payment_link,
)
from payments.services.ledger.invoices import (
    invoice_payment_record as ledger_invoice_payment_record,
)
from payments.stripe_fields import (
    currency,
    event_time,
    listed,
    newest_wins,
    text,
    ts,
)
from subscriptions.models import Subscription, SubscriptionChange

PER_MONTH = {
    "month": Fraction(1),
    "year": Fraction(1, 12),
    "week": Fraction(52, 12),
    "day": Fraction(365, 12),
}
COUNTS_FOR_MRR = {"active", "past_due"}
STATUS_RANK = {
    "incomplete": 0, "trialing": 1, "active": 2, "past_due": 3, "unpaid": 4,
    "paused": 4, "canceled": 5, "incomplete_expired": 5,
}  # fmt: skip


def _monthly(*, amount: int, quantity: int, interval: str, count: int) -> Fraction:
    """One item's exact amount per month (no rounding)."""
    return amount * quantity * PER_MONTH.get(interval, Fraction(1)) / max(count, 1)


def _item(raw: dict) -> dict:
    price = raw.get("price") if isinstance(raw.get("price"), dict) else {}
    plan = raw.get("plan") if isinstance(raw.get("plan"), dict) else {}
    recurring = (
        price.get("recurring") if isinstance(price.get("recurring"), dict) else {}
    )
    amount = price.get("unit_amount")
    if not isinstance(amount, int):
        amount = plan.get("amount") if isinstance(plan.get("amount"), int) else 0
    interval = recurring.get("interval") or plan.get("interval") or "month"
    count = int(recurring.get("interval_count") or plan.get("interval_count") or 1)
    quantity = raw.get("quantity") if isinstance(raw.get("quantity"), int) else 1
    monthly = _monthly(amount=amount, quantity=quantity, interval=interval, count=count)
    return {
        "id": raw.get("id") or "",
        "price": price.get("id") or plan.get("id") or "",
        "product": text(price, "product") or text(plan, "product"),
        "unit_amount": amount,
        "interval": interval,
        "interval_count": count,
        "quantity": quantity,
        "currency": (price.get("currency") or plan.get("currency") or "").upper()[:3],
        # Exact, as a fraction ("4329/2"): rounding happens once per subscription.
        "monthly": str(monthly),
        "period_start": raw.get("current_period_start"),
        "period_end": raw.get("current_period_end"),
    }


def item_monthly(item: dict) -> Fraction:
    """A stored item's exact amount per month.

    Recomputed from its price, quantity and interval whenever they are there, so
    rows stored before MRR was exact (a rounded 28-digit "monthly") read right."""
    amount, quantity = item.get("unit_amount"), item.get("quantity", 1)
    if isinstance(amount, int) and isinstance(quantity, int):
        return _monthly(
            amount=amount,
            quantity=quantity,
            interval=item.get("interval") or "month",
            count=int(item.get("interval_count") or 1),
        )
    return Fraction(item.get("monthly") or 0)


def round_half_up(value: Fraction) -> int:
    """To a whole penny, halves away from zero (2164.5 → 2165)."""
    pennies = math.floor(abs(value) + Fraction(1, 2))
    return pennies if value >= 0 else -pennies


def mrr_pennies(items: list[dict], status: str) -> int:
    """The subscription's monthly recurring revenue: its items' exact monthly
    amounts summed, then rounded half up to a penny (once)."""
    if status not in COUNTS_FOR_MRR:
        return 0
    return round_half_up(sum((item_monthly(i) for i in items), Fraction(0)))


def _customer(stripe_customer: str, email: str = ""):
    known = (
        Subscription.objects.filter(stripe_customer_id=stripe_customer)
        .exclude(customer=None)
        .values_list("customer_id", flat=True)
        .first()
    )
    if known:
        return User.objects.get(pk=known)
    return customer_for(order=None, email=email)


def _ours(obj: dict) -> dict:
    """The customer and variant our checkout put in the subscription's metadata."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    found = {}
    for name, model, key in (
        ("customer", User, "user_id"),
        ("variant", Variant, "variant_id"),
    ):
        raw = metadata.get(key)
        if isinstance(raw, str | int) and str(raw).isdigit():
            row = model.objects.filter(pk=int(raw)).first()
            if row is not None:
                found[name] = row
    return found


@transaction.atomic
def subscription_apply(payload: dict) -> Subscription:
    """customer.subscription.created / .updated / .deleted (both API shapes).

    The customer and variant come from `metadata.user_id` / `metadata.variant_id`
    when our checkout set them (filled in when missing, never replaced); otherwise
    the customer is the one another subscription of the Stripe customer names."""
    obj = payload["data"]["object"]
    at = event_time(payload)
    status = obj.get("status") or "incomplete"
    items = [_item(i) for i in listed(obj, "items")]
    mrr = mrr_pennies(items, status)
    starts = [i["period_start"] for i in items if isinstance(i["period_start"], int)]
    ends = [i["period_end"] for i in items if isinstance(i["period_end"], int)]
    period_start = ts(obj.get("current_period_start")) or (
        ts(min(starts)) if starts else None
    )
    period_end = ts(obj.get("current_period_end")) or (ts(max(ends)) if ends else None)
    fields = {
        "stripe_customer_id": text(obj, "customer"),
        "status": status,
        "currency": (currency(obj) or (items[0]["currency"] if items else "")),
        "items": items,
        "mrr_pennies": mrr,
        "started_at": ts(obj.get("start_date")) or ts(obj.get("created")),
        "current_period_start": period_start,
        "current_period_end": period_end,
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
        "cancel_at": ts(obj.get("cancel_at")),
        "canceled_at": ts(obj.get("canceled_at")),
        "ended_at": ts(obj.get("ended_at")),
        "stripe_seen_at": at,
        "stripe_seen_event": payload["id"],
    }
    subscription = (
        Subscription.objects.select_for_update()
        .filter(stripe_subscription_id=obj["id"])
        .first()
    )
    ours = _ours(obj)
    if subscription is None:
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(
                    stripe_subscription_id=obj["id"],
                    customer=ours.get("customer")
                    or _customer(fields["stripe_customer_id"]),
                    variant=ours.get("variant"),
                    **fields,
                )
        except IntegrityError:
            subscription = Subscription.objects.select_for_update().get(
                stripe_subscription_id=obj["id"]
            )
    elif newest_wins(
        new=(at, status),
        old=(subscription.stripe_seen_at, subscription.status),
        ranks=STATUS_RANK,
        new_id=payload["id"],
        old_id=subscription.stripe_seen_event,
    ):
        for name, value in fields.items():
            setattr(subscription, name, value)
        subscription.save()
    missing = {
        name: row
        for name, row in ours.items()
        if getattr(subscription, f"{name}_id") is None
    }
    if missing:  # the row was made from an event without our metadata
        Subscription.objects.filter(pk=subscription.pk).update(**missing)
        for name, row in missing.items():
            setattr(subscription, name, row)
    SubscriptionChange.objects.get_or_create(
        stripe_event_id=payload["id"],
        defaults={
            "subscription": subscription,
            "event_type": payload["type"],
            "at": at,
            "status": status,
            "mrr_pennies": mrr,
            "cancel_at_period_end": fields["cancel_at_period_end"],
        },
    )
    return subscription


@transaction.atomic
def invoice_payment_record(payload: dict) -> Payment | None:
    """invoice.paid / invoice.payment_succeeded: the invoice's money in the payment
    ledger (`ledger.invoice_payment_record`), its customer the one the Stripe
    customer's subscriptions name (or the invoice's email)."""
    invoice = payload["data"]["object"]
    return ledger_invoice_payment_record(
        invoice=invoice,
        seen_at=event_time(payload),
        customer=_customer(text(invoice, "customer"), text(invoice, "customer_email")),
    )


@transaction.atomic
def invoice_payment_link(payload: dict) -> Payment | None:
    """invoice_payment.paid: the invoice and its PaymentIntent are one payment
    (`ledger.invoice_payment_link`); waits (NotYet) while neither is recorded."""
    obj = payload["data"]["object"]
    invoice_id = text(obj, "invoice")
    payment_obj = obj.get("payment") if isinstance(obj.get("payment"), dict) else {}
    intent = text(payment_obj, "payment_intent")
    if not invoice_id or not intent:
        return None
    payment = ledger_invoice_payment_link(
        invoice_id=invoice_id, intent=intent, subscription=bool(obj.get("parent"))
    )
    if payment is None:
        raise NotYet(invoice_id)
    return payment
