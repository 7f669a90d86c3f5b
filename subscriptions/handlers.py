"""Stripe Billing event handlers, registered into the webhook's table at start-up
(payments cannot import subscriptions: the apps point the other way)."""

from audit.services import audit_record
from payments.handlers.outcomes import Woken
from payments.stripe_fields import invoice_subscription, text
from subscriptions.messages import (
    subscription_canceled_send,
    subscription_payment_failed_send,
    subscription_renewal_send,
)
from subscriptions.services import (
    invoice_payment_link,
    invoice_payment_record,
    subscription_apply,
)


def subscription_event(payload: dict):
    subscription = subscription_apply(payload)
    subscription_canceled_send(subscription=subscription)


def invoice_paid(payload: dict):
    payment = invoice_payment_record(payload)
    if payment is None:
        return None
    subscription_renewal_send(invoice=payload["data"]["object"], payment=payment)
    # Events may wait for this payment by its invoice, PaymentIntent or charge id.
    return Woken(
        [
            payload["data"]["object"]["id"],
            payment.stripe_payment_intent or "",
            payment.stripe_charge_id or "",
        ]
    )


def invoice_payment_failed(payload: dict):
    invoice = payload["data"]["object"]
    audit_record(
        event_type="subscription.invoice_payment_failed",
        actor_label="stripe",
        target_type="stripe.invoice",
        target_id=invoice["id"][:64],
        metadata={
            "subscription": invoice_subscription(invoice),
            "customer": text(invoice, "customer"),
            "amount_due": invoice.get("amount_due"),
        },
    )
    subscription_payment_failed_send(invoice=invoice)


def invoice_payment_paid(payload: dict):
    invoice_payment_link(payload)


BILLING_HANDLERS = {
    "customer.subscription.created": subscription_event,
    "customer.subscription.updated": subscription_event,
    "customer.subscription.deleted": subscription_event,
    "invoice.paid": invoice_paid,
    "invoice.payment_succeeded": invoice_paid,
    "invoice.payment_failed": invoice_payment_failed,
    "invoice_payment.paid": invoice_payment_paid,
}
