from payments.handlers.outcomes import NotYet
from payments.services.ledger import refund_record
from payments.stripe_fields import event_time, payment_intent_id, text, ts


def apply(refund: dict, seen_at):
    """One refund object into the ledger; waits (NotYet) for its payment."""
    recorded = refund_record(
        obj=refund, seen_at=seen_at, created=ts(refund.get("created")) or seen_at
    )
    if recorded is None:
        raise NotYet(
            text(refund, "charge") or payment_intent_id(refund) or refund["id"]
        )
    return recorded


def upsert(payload: dict):
    """refund.created / .updated / .failed and charge.refund.updated."""
    apply(payload["data"]["object"], event_time(payload))
