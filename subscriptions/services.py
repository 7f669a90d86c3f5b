"""Subscriptions and their invoice payments, from Stripe Billing events.

Every subscription event is kept as a SubscriptionChange dated by Stripe's event
time, whatever order it arrived in; the Subscription row holds the newest one
(Stripe time, then a fixed rank of states, then the event id), so any order of
events converges. MRR is normalised to a month: yearly / 12, weekly x 52 / 12,
daily x 365 / 12, divided by the interval count; only active and past-due
subscriptions count, never trials, free plans or tax.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction

from accounts.models import User
from audit.services import audit_record
from catalog.models import Variant
from payments.handlers.outcomes import NotYet
from payments.models import Payment
from payments.services.ledger import customer_for
from payments.stripe_fields import currency, event_time, listed, text, ts
from subscriptions.models import Subscription, SubscriptionChange

PER_MONTH = {
    "month": Decimal(1),
    "year": Decimal(1) / 12,
    "week": Decimal(52) / 12,
    "day": Decimal(365) / 12,
}
COUNTS_FOR_MRR = {"active", "past_due"}
STATUS_RANK = {
    "incomplete": 0, "trialing": 1, "active": 2, "past_due": 3, "unpaid": 4,
    "paused": 4, "canceled": 5, "incomplete_expired": 5,
}  # fmt: skip


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
    count = recurring.get("interval_count") or plan.get("interval_count") or 1
    quantity = raw.get("quantity") if isinstance(raw.get("quantity"), int) else 1
    factor = PER_MONTH.get(interval, Decimal(1)) / Decimal(max(int(count), 1))
    return {
        "id": raw.get("id") or "",
        "price": price.get("id") or plan.get("id") or "",
        "product": text(price, "product") or text(plan, "product"),
        "unit_amount": amount,
        "interval": interval,
        "interval_count": int(count),
        "quantity": quantity,
        "currency": (price.get("currency") or plan.get("currency") or "").upper()[:3],
        "monthly": str(Decimal(amount * quantity) * factor),
        "period_start": raw.get("current_period_start"),
        "period_end": raw.get("current_period_end"),
    }


def mrr_pennies(items: list[dict], status: str) -> int:
    """The subscription's monthly recurring revenue, rounded half up to a penny."""
    if status not in COUNTS_FOR_MRR:
        return 0
    total = sum((Decimal(i["monthly"]) for i in items), Decimal(0))
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


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


def _rank(at, status, event_id):
    return (at, STATUS_RANK.get(status, 0), event_id)


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
    elif _rank(at, status, payload["id"]) >= _rank(
        subscription.stripe_seen_at, subscription.status, subscription.stripe_seen_event
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


def invoice_subscription(invoice: dict) -> str:
    """The invoice's subscription, before and after API 2025-03-31 ("basil")."""
    direct = text(invoice, "subscription")
    if direct:
        return direct
    parent = invoice.get("parent") if isinstance(invoice.get("parent"), dict) else {}
    details = parent.get("subscription_details")
    if isinstance(details, dict) and text(details, "subscription"):
        return text(details, "subscription")
    for line in listed(invoice, "lines"):
        line_parent = line.get("parent") if isinstance(line.get("parent"), dict) else {}
        item = line_parent.get("subscription_item_details")
        if isinstance(item, dict) and text(item, "subscription"):
            return text(item, "subscription")
        if text(line, "subscription"):
            return text(line, "subscription")
    return ""


@transaction.atomic
def invoice_payment_record(payload: dict) -> Payment | None:
    """invoice.paid / invoice.payment_succeeded: the invoice's money in the Payment
    ledger (one row per invoice), as subscription revenue when the invoice belongs
    to a subscription, dated by `status_transitions.paid_at`."""
    invoice = payload["data"]["object"]
    amount = invoice.get("amount_paid")
    if not isinstance(amount, int) or amount <= 0:
        return None  # nothing moved (a free or fully credited invoice)
    transitions = invoice.get("status_transitions")
    transitions = transitions if isinstance(transitions, dict) else {}
    paid_at = ts(transitions.get("paid_at")) or event_time(payload)
    intent = text(invoice, "payment_intent")
    subscription_id = invoice_subscription(invoice)
    source = Payment.Source.SUBSCRIPTION if subscription_id else Payment.Source.OTHER
    payment = Payment.objects.select_for_update().filter(
        stripe_invoice_id=invoice["id"]
    ).first() or (
        Payment.objects.select_for_update().filter(stripe_payment_intent=intent).first()
        if intent
        else None
    )
    if payment is not None:
        changed = False
        if not payment.stripe_invoice_id:
            payment.stripe_invoice_id, payment.source, changed = (
                invoice["id"],
                source,
                True,
            )
        if subscription_id and not payment.stripe_subscription_id:
            payment.stripe_subscription_id, changed = subscription_id, True
        if intent and not payment.stripe_payment_intent:
            payment.stripe_payment_intent, changed = intent, True
        if changed:
            payment.save()
        return payment
    customer = _customer(text(invoice, "customer"), text(invoice, "customer_email"))
    payment = Payment.objects.create(
        stripe_subscription_id=subscription_id,
        stripe_invoice_id=invoice["id"],
        stripe_payment_intent=intent or None,
        stripe_charge_id=text(invoice, "charge") or None,
        stripe_customer_id=text(invoice, "customer"),
        customer=customer,
        source=source,
        amount_pennies=amount,
        currency=currency(invoice),
        paid_at=paid_at,
    )
    audit_record(
        event_type="payment.recorded",
        actor_label="stripe",
        target=payment,
        metadata={"invoice": invoice["id"], "amount_pennies": amount},
    )
    return payment


@transaction.atomic
def invoice_payment_link(payload: dict) -> Payment | None:
    """invoice_payment.paid (API 2025-03-31 on): ties an invoice to its PaymentIntent.
    If the PaymentIntent was recorded on its own first, the two are one payment."""
    obj = payload["data"]["object"]
    invoice_id = text(obj, "invoice")
    payment_obj = obj.get("payment") if isinstance(obj.get("payment"), dict) else {}
    intent = text(payment_obj, "payment_intent")
    if not invoice_id or not intent:
        return None
    by_invoice = (
        Payment.objects.select_for_update().filter(stripe_invoice_id=invoice_id).first()
    )
    by_intent = (
        Payment.objects.select_for_update().filter(stripe_payment_intent=intent).first()
    )
    if by_invoice and by_intent and by_invoice.pk != by_intent.pk:
        # The same money twice: keep the invoice's row, move what hangs off the other.
        by_intent.refunds.update(payment=by_invoice)
        by_intent.disputes.update(payment=by_invoice)
        charge = by_intent.stripe_charge_id
        audit_record(
            event_type="payment.merged",
            actor_label="stripe",
            target=by_invoice,
            metadata={"kept": invoice_id, "merged": intent},
        )
        by_intent.delete()
        by_invoice.stripe_payment_intent = intent
        by_invoice.stripe_charge_id = by_invoice.stripe_charge_id or charge
        by_invoice.save()
        return by_invoice
    payment = by_invoice or by_intent
    if payment is None:
        # Neither side is known yet: wait for the invoice's payment to be recorded.
        raise NotYet(invoice_id)
    payment.stripe_invoice_id = payment.stripe_invoice_id or invoice_id
    payment.stripe_payment_intent = payment.stripe_payment_intent or intent
    if payment.source == Payment.Source.OTHER and obj.get("parent"):
        payment.source = Payment.Source.SUBSCRIPTION
    payment.save()
    return payment
