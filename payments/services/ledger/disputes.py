"""Disputes (chargebacks) in the ledger, and the ops case each one is.

A dispute's case exists from the first event seen of it, whichever that is: open
while the dispute needs the merchant, closed — dated by Stripe's time of the closing
state, with the outcome on the order's timeline — once Stripe closes it. So
`charge.dispute.closed` before `.created` ends in the same books as Stripe's order.
"""

import datetime as dt

from core.money import format_money
from payments.locks import lock_dispute, lock_payment_and_order
from payments.models import DISPUTE_CLOSED_STATUSES, Dispute
from payments.services.ledger.cases import Kind, exception_close, exception_raise
from payments.stripe_fields import newest_wins, payment_intent_id, text

# For two states stamped the same second, the later one in a dispute's life wins.
DISPUTE_STATUS_RANK = {
    "warning_needs_response": 0,
    "needs_response": 0,
    "warning_under_review": 1,
    "under_review": 1,
    "warning_closed": 2,
    "won": 2,
    "lost": 2,
    "charge_refunded": 2,
    "prevented": 2,
}
OUTCOMES = {
    "won": "won: the funds were returned",
    "lost": "lost: the funds stay with the card holder",
    "warning_closed": "closed as an inquiry, no funds moved",
    "charge_refunded": "closed: the charge was refunded",
    "prevented": "prevented",
}


def dispute_record(
    *,
    obj: dict,
    seen_at: dt.datetime,
    created: dt.datetime | None = None,
    withdrawn: int | None = None,
    reinstated: int | None = None,
) -> Dispute | None:
    """Upsert one Stripe dispute by its id; its newest state (by Stripe time) wins.

    Returns None, writing nothing, while the disputed payment is unknown.
    `withdrawn` / `reinstated`: funds moved by this event, dated by it. Locks
    Order → Payment → Dispute. Writes the dispute and its case
    (`dispute_case_sync`).
    """
    order, payment = lock_payment_and_order(
        charge=text(obj, "charge"), payment_intent=payment_intent_id(obj)
    )
    if payment is None:
        return None
    status = obj.get("status") or "needs_response"
    dispute = lock_dispute(obj["id"])
    if dispute is None:
        dispute = Dispute(
            stripe_dispute_id=obj["id"],
            status=status,
            status_at=seen_at,
            stripe_created=created or seen_at,
        )
        newer = True
    else:
        newer = newest_wins(
            new=(seen_at, status),
            old=(dispute.status_at, dispute.status),
            ranks=DISPUTE_STATUS_RANK,
        )
    dispute.payment = payment
    if newer:  # what an older event says of the dispute never overwrites newer news
        dispute.status, dispute.status_at = status, seen_at
        dispute.stripe_charge_id = text(obj, "charge")
        dispute.amount_pennies = (
            obj.get("amount") if isinstance(obj.get("amount"), int) else 0
        )
        dispute.currency = (obj.get("currency") or "").upper()[:3]
        dispute.reason = obj.get("reason") or ""
    if withdrawn is not None:
        dispute.funds_withdrawn_pennies, dispute.funds_withdrawn_at = withdrawn, seen_at
    if reinstated is not None:
        dispute.funds_reinstated_pennies = reinstated
        dispute.funds_reinstated_at = seen_at
    dispute.save()
    dispute_case_sync(
        dispute,
        order=order,
        closed_at=seen_at if status in DISPUTE_CLOSED_STATUSES else None,
    )
    return dispute


def dispute_outcome(dispute: Dispute) -> str:
    return OUTCOMES.get(dispute.status, dispute.status.replace("_", " "))


def dispute_case_sync(dispute: Dispute, *, order, closed_at=None) -> None:
    """The dispute's ops case: opened once; closed when Stripe closes the dispute,
    dated by the earliest Stripe time of a closing state seen (`closed_at`: this
    event's, when it says closed), the outcome on the order's timeline."""
    case = exception_raise(
        kind=Kind.DISPUTE,
        stripe_ref=dispute.stripe_dispute_id,
        message=f"Dispute {dispute.stripe_dispute_id} "
        f"({dispute.reason or 'no reason'}) for "
        f"{format_money(dispute.amount_pennies, dispute.currency)}: respond in the "
        "Stripe Dashboard while it needs a response.",
        order=order,
        payment=dispute.payment,
    )
    if dispute.status in DISPUTE_CLOSED_STATUSES:
        exception_close(
            case=case,
            at=closed_at or dispute.status_at,
            note=f"Dispute {dispute_outcome(dispute)}.",
            order=order,
        )
