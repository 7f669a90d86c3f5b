from payments.handlers.outcomes import NotYet
from payments.services.ledger import payment_find, refund_upsert
from payments.stripe_fields import event_time, payment_intent_id, text, ts


def apply(refund: dict, seen_at):
    charge, intent = text(refund, "charge"), payment_intent_id(refund)
    payment = payment_find(payment_intent=intent, charge=charge)
    if payment is None:
        raise NotYet(charge or intent or refund["id"])
    return refund_upsert(
        obj=refund,
        seen_at=seen_at,
        payment=payment,
        created=ts(refund.get("created")) or seen_at,
    )


def upsert(payload: dict):
    """refund.created / .updated / .failed and charge.refund.updated."""
    apply(payload["data"]["object"], event_time(payload))
