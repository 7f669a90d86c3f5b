"""The customer's messages about a subscription (core.mail): a failed payment or
one the bank wants confirmed, a renewal receipt, and the cancellation.

Called from the Billing event handlers inside the event's transaction; each goes
out after commit, once per invoice attempt, invoice or subscription, however
often Stripe delivers the event.
"""

from core.mail import message_send
from payments.models import Payment
from payments.stripe_fields import invoice_subscription, text, ts
from subscriptions.models import Subscription


def _plan_name(subscription: Subscription | None) -> str:
    if subscription is not None and subscription.variant_id:
        return subscription.variant.product.name
    return "PureLaka"


def _subscription(invoice: dict) -> Subscription | None:
    return (
        Subscription.objects.select_related("customer", "variant__product")
        .filter(stripe_subscription_id=invoice_subscription(invoice))
        .first()
    )


def _recipient(subscription: Subscription | None, invoice: dict) -> str:
    if subscription is not None and subscription.customer_id:
        return subscription.customer.email
    return text(invoice, "customer_email")


def _target(subscription: Subscription | None, invoice: dict):
    return subscription if subscription is not None else ("invoice", invoice["id"])


def subscription_payment_failed_send(*, invoice: dict) -> None:
    """invoice.payment_failed: the customer is asked to check their card, or to
    confirm the payment when the bank wants it, with a link back to
    /account/subscriptions/. One message per invoice and attempt."""
    subscription = _subscription(invoice)
    intent = invoice.get("payment_intent")
    action_required = isinstance(intent, dict) and intent.get("status") in (
        "requires_action",
        "requires_confirmation",
    )
    attempt = invoice.get("attempt_count") or 0
    message_send(
        kind="subscription_payment_failed",
        to=_recipient(subscription, invoice),
        context={
            "subscription": subscription,
            "plan_name": _plan_name(subscription),
            "amount_due": invoice.get("amount_due") or 0,
            "currency": (invoice.get("currency") or "").upper(),
            "action_required": action_required,
            "next_attempt": ts(invoice.get("next_payment_attempt")),
            "hosted_invoice_url": text(invoice, "hosted_invoice_url"),
        },
        target=_target(subscription, invoice),
        dedupe_key=f"{invoice['id']}:{attempt}",
    )


def subscription_renewal_send(*, invoice: dict, payment: Payment) -> None:
    """invoice.paid for a renewal (billing_reason subscription_cycle): a receipt,
    once per invoice. The first invoice of a subscription gets none."""
    if invoice.get("billing_reason") != "subscription_cycle":
        return
    subscription = _subscription(invoice)
    recipient = payment.customer.email if payment.customer_id else ""
    message_send(
        kind="subscription_renewal",
        to=recipient or _recipient(subscription, invoice),
        context={
            "subscription": subscription,
            "plan_name": _plan_name(subscription),
            "amount_paid": payment.amount_pennies,
            "currency": payment.currency,
            "paid_at": payment.paid_at,
            "invoice_number": text(invoice, "number"),
            "period_end": subscription.current_period_end if subscription else None,
        },
        target=_target(subscription, invoice),
        dedupe_key=invoice["id"],
    )


def subscription_canceled_send(*, subscription: Subscription) -> None:
    """The subscription's newest state is canceled: confirmed to the customer,
    once per subscription."""
    if subscription.status != Subscription.Status.CANCELED:
        return
    if not subscription.customer_id:
        return
    message_send(
        kind="subscription_canceled",
        to=subscription.customer.email,
        context={"subscription": subscription, "plan_name": _plan_name(subscription)},
        target=subscription,
    )
