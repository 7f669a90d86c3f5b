from audit.services import audit_record
from payments.handlers.outcomes import Woken
from payments.services.ledger import STRIPE, payment_processing, payment_record
from payments.stripe_fields import (
    amount,
    charge_of_intent,
    currency,
    event_time,
    order_for,
    text,
)


def succeeded(payload: dict):
    """payment_intent.succeeded: the payment, dated by this event (ARCHITECTURE.md)."""
    intent = payload["data"]["object"]
    if text(intent, "invoice"):
        return None  # an invoice's payment: recorded from the invoice events
    order = order_for(intent)
    charge = charge_of_intent(intent)
    payment_record(
        payment_intent=intent["id"],
        charge=charge,
        amount_pennies=amount(intent, "amount_received", "amount"),
        currency=currency(intent),
        paid_at=event_time(payload),
        order=order,
        email=text(intent, "receipt_email"),
        stripe_customer=text(intent, "customer"),
    )
    return Woken([intent["id"], charge])


def processing(payload: dict):
    """payment_intent.processing: a delayed method (a bank debit) is on its way;
    the order shows "payment processing" until it succeeds or fails."""
    intent = payload["data"]["object"]
    order = order_for(intent)
    if order is not None:
        payment_processing(
            order=order, payment_intent=intent["id"], at=event_time(payload)
        )


def payment_failed(payload: dict):
    """A declined attempt: the order stays pending and the customer may try again."""
    intent = payload["data"]["object"]
    order = order_for(intent)
    error = intent.get("last_payment_error")
    error = error if isinstance(error, dict) else {}
    if order is not None:
        payment_processing(
            order=order, payment_intent=intent["id"], at=event_time(payload), ended=True
        )
        audit_record(
            event_type="payment.failed",
            actor_label=STRIPE,
            target=order,
            metadata={
                "payment_intent": intent["id"],
                "code": error.get("code") or "",
                "decline_code": error.get("decline_code") or "",
                "message": error.get("message") or "",
            },
        )


def canceled(payload: dict):
    intent = payload["data"]["object"]
    order = order_for(intent)
    if order is not None:
        payment_processing(
            order=order, payment_intent=intent["id"], at=event_time(payload), ended=True
        )
        audit_record(
            event_type="payment.canceled",
            actor_label=STRIPE,
            target=order,
            metadata={
                "payment_intent": intent["id"],
                "reason": intent.get("cancellation_reason") or "",
            },
        )
