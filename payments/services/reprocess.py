"""Replaying stored Stripe events (failed or pending), audited."""

from audit.services import audit_record
from payments.models import StripeEvent
from payments.webhook import process


def events_reprocess(
    *,
    failed: bool = False,
    pending: bool = False,
    event_id: str = "",
    actor=None,
    actor_label: str = "",
) -> dict[str, int]:
    """Process the chosen events again; returns how many ended in each status.

    Idempotent: a processed event is left as it is.
    """
    statuses = [s for s, chosen in (("failed", failed), ("pending", pending)) if chosen]
    events = StripeEvent.objects.all()
    if event_id:
        events = events.filter(event_id=event_id)
    elif statuses:
        events = events.filter(status__in=statuses)
    else:
        events = events.none()
    outcome: dict[str, int] = {}
    for pk in list(
        events.order_by("stripe_created", "id").values_list("pk", flat=True)
    ):
        status = process(pk).status
        outcome[status] = outcome.get(status, 0) + 1
    audit_record(
        event_type="stripe_events.reprocessed",
        actor=actor,
        actor_label=actor_label,
        metadata={
            "failed": failed,
            "pending": pending,
            "event_id": event_id,
            "outcome": outcome,
        },
    )
    return outcome
