from payments.handlers.outcomes import NotYet
from payments.services.ledger import dispute_upsert, payment_find
from payments.stripe_fields import event_time, listed, payment_intent_id, text, ts


def _payment(dispute):
    charge, intent = text(dispute, "charge"), payment_intent_id(dispute)
    payment = payment_find(charge=charge) or payment_find(payment_intent=intent)
    if payment is None:
        raise NotYet(charge or intent)
    return payment


def _balance(dispute, sign):
    """Funds moved by the dispute's balance transactions (sign -1 out, +1 back)."""
    moved = [
        t.get("amount")
        for t in listed(dispute, "balance_transactions")
        if isinstance(t.get("amount"), int) and t["amount"] * sign > 0
    ]
    return abs(sum(moved)) if moved else None


def _upsert(payload, **funds):
    dispute = payload["data"]["object"]
    seen_at = event_time(payload)
    return dispute_upsert(
        obj=dispute,
        seen_at=seen_at,
        payment=_payment(dispute),
        created=ts(dispute.get("created")) or seen_at,
        **funds,
    )


def upsert(payload: dict):
    """charge.dispute.created / .updated / .closed."""
    _upsert(payload)


def funds_withdrawn(payload: dict):
    dispute = payload["data"]["object"]
    withdrawn = _balance(dispute, -1)
    _upsert(
        payload, withdrawn=withdrawn if withdrawn is not None else dispute["amount"]
    )


def funds_reinstated(payload: dict):
    dispute = payload["data"]["object"]
    back = _balance(dispute, +1)
    _upsert(payload, reinstated=back if back is not None else dispute["amount"])
