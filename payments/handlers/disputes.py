from payments.handlers.outcomes import NotYet
from payments.services.ledger import dispute_record
from payments.stripe_fields import event_time, listed, payment_intent_id, text, ts


def _balance(dispute, sign):
    """Funds moved by the dispute's balance transactions (sign -1 out, +1 back)."""
    moved = [
        t.get("amount")
        for t in listed(dispute, "balance_transactions")
        if isinstance(t.get("amount"), int) and t["amount"] * sign > 0
    ]
    return abs(sum(moved)) if moved else None


def _record(payload, **funds):
    dispute = payload["data"]["object"]
    seen_at = event_time(payload)
    recorded = dispute_record(
        obj=dispute,
        seen_at=seen_at,
        created=ts(dispute.get("created")) or seen_at,
        **funds,
    )
    if recorded is None:
        raise NotYet(text(dispute, "charge") or payment_intent_id(dispute))
    return recorded


def upsert(payload: dict):
    """charge.dispute.created / .updated / .closed."""
    _record(payload)


def funds_withdrawn(payload: dict):
    dispute = payload["data"]["object"]
    withdrawn = _balance(dispute, -1)
    _record(
        payload, withdrawn=withdrawn if withdrawn is not None else dispute["amount"]
    )


def funds_reinstated(payload: dict):
    dispute = payload["data"]["object"]
    back = _balance(dispute, +1)
    _record(payload, reinstated=back if back is not None else dispute["amount"])
