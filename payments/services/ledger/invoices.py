"""Invoice payments (Stripe Billing) in the payment ledger: one row per invoice,
merged with its PaymentIntent's row when both were recorded on their own."""

import datetime as dt

from django.db.models import Q

from audit.services import audit_record
from payments.locks import lock_payments
from payments.models import Payment, PaymentException
from payments.services.ledger.cases import STRIPE
from payments.stripe_fields import currency, invoice_subscription, text, ts


def invoice_payment_record(
    *, invoice: dict, seen_at: dt.datetime, customer
) -> Payment | None:
    """invoice.paid / invoice.payment_succeeded: the invoice's money in the Payment
    ledger (one row per invoice), as subscription revenue when the invoice belongs
    to a subscription, dated by `status_transitions.paid_at`."""
    amount = invoice.get("amount_paid")
    if not isinstance(amount, int) or amount <= 0:
        return None  # nothing moved (a free or fully credited invoice)
    transitions = invoice.get("status_transitions")
    transitions = transitions if isinstance(transitions, dict) else {}
    paid_at = ts(transitions.get("paid_at")) or seen_at
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
            payment.stripe_invoice_id, changed = invoice["id"], True
        if payment.source == Payment.Source.OTHER and source != payment.source:
            # The invoice says what the money was for, whichever event came first.
            payment.source, changed = source, True
        if subscription_id and not payment.stripe_subscription_id:
            payment.stripe_subscription_id, changed = subscription_id, True
        if intent and not payment.stripe_payment_intent:
            payment.stripe_payment_intent, changed = intent, True
        stated = ts(transitions.get("paid_at"))
        if stated is not None and payment.paid_at != stated:
            # The invoice's own paid_at is the revenue time (ARCHITECTURE.md), also
            # when its PaymentIntent was recorded first, dated by its own event.
            payment.paid_at, changed = stated, True
        if changed:
            payment.save()
        return payment
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
        actor_label=STRIPE,
        target=payment,
        metadata={"invoice": invoice["id"], "amount_pennies": amount},
    )
    return payment


def invoice_payment_link(
    *, invoice_id: str, intent: str, subscription: bool
) -> Payment | None:
    """invoice_payment.paid (API 2025-03-31 on): ties an invoice to its PaymentIntent.
    If the PaymentIntent was recorded on its own first, the two are one payment
    (refunds and disputes move to the invoice's row). None, writing nothing, while
    neither is recorded. Writes the payment and a `payment.merged` audit row."""
    found = Payment.objects.filter(
        Q(stripe_invoice_id=invoice_id) | Q(stripe_payment_intent=intent)
    ).values_list("pk", flat=True)
    locked = {p.pk: p for p in lock_payments(found)}  # in primary-key order
    by_invoice = next(
        (p for p in locked.values() if p.stripe_invoice_id == invoice_id), None
    )
    by_intent = next(
        (p for p in locked.values() if p.stripe_payment_intent == intent), None
    )
    if by_invoice and by_intent and by_invoice.pk != by_intent.pk:
        # The same money twice: keep the invoice's row, move what hangs off the other.
        by_intent.refunds.update(payment=by_invoice)
        by_intent.disputes.update(payment=by_invoice)
        by_intent.refund_requests.update(payment=by_invoice)
        PaymentException.objects.filter(payment=by_intent).update(payment=by_invoice)
        charge = by_intent.stripe_charge_id
        audit_record(
            event_type="payment.merged",
            actor_label=STRIPE,
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
        return None
    payment.stripe_invoice_id = payment.stripe_invoice_id or invoice_id
    payment.stripe_payment_intent = payment.stripe_payment_intent or intent
    if payment.source == Payment.Source.OTHER and subscription:
        payment.source = Payment.Source.SUBSCRIPTION
    payment.save()
    return payment
