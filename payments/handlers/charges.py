from payments.handlers import refunds
from payments.handlers.outcomes import NotYet, Woken
from payments.services.ledger import payment_charge_attach, payment_record
from payments.stripe_fields import (
    amount,
    currency,
    event_time,
    listed,
    order_for,
    payment_intent_id,
    text,
    ts,
)


def succeeded(payload: dict):
    """charge.succeeded: completes a PaymentIntent's payment with its charge id, or
    is the payment itself for a charge without a PaymentIntent (Charges API)."""
    charge = payload["data"]["object"]
    if charge.get("captured") is False:
        return None  # authorised only: no money has moved yet
    intent = payment_intent_id(charge)
    if intent:
        if payment_charge_attach(payment_intent=intent, charge=charge["id"]) is None:
            raise NotYet(intent)
        return Woken([charge["id"]])
    if text(charge, "invoice"):
        return None  # an invoice's payment: recorded from the invoice events
    billing = charge.get("billing_details")
    billing = billing if isinstance(billing, dict) else {}
    payment_record(
        payment_intent="",
        charge=charge["id"],
        amount_pennies=amount(charge, "amount_captured", "amount"),
        currency=currency(charge),
        paid_at=ts(charge.get("created")) or event_time(payload),
        order=order_for(charge),
        email=text(billing, "email") or text(charge, "receipt_email"),
        stripe_customer=text(charge, "customer"),
    )
    return Woken([charge["id"]])


def refunded(payload: dict):
    """charge.refunded: every refund listed on the charge, not only the newest.

    From API 2022-11-15 the list is no longer included; the refund.* events carry
    each refund then, and this event changes nothing.
    """
    charge = payload["data"]["object"]
    listed_refunds = listed(charge, "refunds")
    if not listed_refunds:
        return None
    for refund in listed_refunds:
        # A listed refund names its own charge; fall back to the parent's.
        refunds.apply(
            dict(
                refund,
                charge=text(refund, "charge") or charge["id"],
                payment_intent=text(refund, "payment_intent")
                or payment_intent_id(charge),
            ),
            event_time(payload),
        )
    return None
