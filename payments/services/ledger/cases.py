"""Ops cases ("Needs attention") that the ledger opens and closes."""

import datetime as dt

from audit.services import audit_record
from payments.models import PaymentException

STRIPE = "stripe"  # the actor label of what Stripe's events write
Kind = PaymentException.Kind


def exception_raise(
    *, kind: str, stripe_ref: str, message: str, order=None, payment=None
) -> PaymentException:
    """Open a case for ops, once per kind and Stripe object. Audited when opened."""
    case, created = PaymentException.objects.get_or_create(
        kind=kind,
        stripe_ref=stripe_ref,
        defaults={"message": message, "order": order, "payment": payment},
    )
    if created:
        audit_record(
            event_type=f"payment_exception.{kind}",
            actor_label=STRIPE,
            target=order or payment or case,
            metadata={"stripe_ref": stripe_ref, "message": message},
        )
    return case


def exception_close(
    *, case: PaymentException, at: dt.datetime, note: str, order=None
) -> bool:
    """Close a case because Stripe settled it (a dispute won or lost), dated by
    Stripe's time `at`; returns whether it was open. Audited as
    `payment_exception.closed` on the order's timeline. A case Stripe closed
    already keeps the earliest closing time and the newest note, whatever order
    the closing events came in; one a person resolved stays as they left it."""
    if case.resolved_at is not None:
        if case.resolved_by_id is None and (
            at < case.resolved_at or note[:255] != case.resolution_note
        ):
            case.resolved_at = min(at, case.resolved_at)
            case.resolution_note = note[:255]
            case.save(update_fields=["resolved_at", "resolution_note", "updated_at"])
        return False
    case.resolved_at, case.resolution_note = at, note[:255]
    case.save(update_fields=["resolved_at", "resolution_note", "updated_at"])
    audit_record(
        event_type="payment_exception.closed",
        actor_label=STRIPE,
        target=order or case,
        metadata={"kind": case.kind, "stripe_ref": case.stripe_ref, "note": note},
    )
    return True
