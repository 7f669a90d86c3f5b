"""Internal order notes: staff write them, the timeline and the audit keep them."""

from django.db import transaction

from audit.services import audit_record
from core.exceptions import DomainError
from orders.models import Order, OrderNote

NOTE_MAX = 2000


@transaction.atomic
def order_note_add(*, order: Order, actor, body: str) -> OrderNote:
    """Append a note to the order (never shown to the customer) and its audit row."""
    body = body.strip()
    if not body:
        raise DomainError("Write the note first: it is empty.")
    if len(body) > NOTE_MAX:
        raise DomainError(f"A note holds at most {NOTE_MAX} characters.")
    note = OrderNote.objects.create(order=order, author=actor, body=body)
    audit_record(
        event_type="order.noted",
        actor=actor,
        target=order,
        metadata={"number": order.number, "note": note.pk, "length": len(body)},
    )
    return note
