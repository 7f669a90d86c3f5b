from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from payments.models import PaymentException


@transaction.atomic
def exception_resolve(*, case: PaymentException, actor, note: str) -> PaymentException:
    """Close an ops case with who and why. Audited."""
    if case.resolved_at is None:
        case.resolved_at, case.resolved_by = timezone.now(), actor
        case.resolution_note = note.strip()[:255]
        case.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
        audit_record(
            event_type="payment_exception.resolved",
            actor=actor,
            target=case.order or case,
            metadata={"kind": case.kind, "stripe_ref": case.stripe_ref, "note": note},
        )
    return case
