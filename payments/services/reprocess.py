"""Replaying stored Stripe events (failed, pending or stuck), audited."""

import datetime as dt
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services import audit_record
from payments.models import StripeEvent
from payments.services.inbox import process

Status = StripeEvent.Status
# After this many attempts a failed event waits for a person (monitoring flags it).
RETRY_MAX_ATTEMPTS = 10
# A queued event still `received` after this long lost its task (broker down or
# flushed, worker killed mid-task): the scheduled job applies it. Longer than a
# burst's normal backlog (B4 drained 16,000 events in under five minutes), so the
# job does not race the worker.
QUEUED_GRACE = dt.timedelta(minutes=15)
RETRY_BACKOFF_CAP = dt.timedelta(hours=6)


def _stuck(now: dt.datetime) -> Q:
    """Events stored more than QUEUED_GRACE before `now` that no worker applied."""
    return Q(status=Status.RECEIVED, received_at__lte=now - QUEUED_GRACE)


def events_reprocess(
    *,
    failed: bool = False,
    pending: bool = False,
    stuck: bool = False,
    event_id: str = "",
    now: dt.datetime | None = None,
    actor=None,
    actor_label: str = "",
) -> dict[str, int]:
    """Process the chosen events again, oldest first; returns how many ended in
    each status.

    `event_id` chooses one event; otherwise every `failed` one, every `pending`
    one and, with `stuck`, every one left `received` longer than QUEUED_GRACE at
    `now` (default: now). Idempotent: a processed event is left as it is. Writes
    what processing writes and one `stripe_events.reprocessed` audit row. Needs
    no broker: events are applied in this process.
    """
    chosen = [
        condition
        for condition, wanted in (
            (Q(status=Status.FAILED), failed),
            (Q(status=Status.PENDING), pending),
            (_stuck(now or timezone.now()), stuck),
        )
        if wanted
    ]
    events = StripeEvent.objects.all()
    if event_id:
        events = events.filter(event_id=event_id)
    elif chosen:
        events = events.filter(reduce(or_, chosen))
    else:
        events = events.none()
    outcome: dict[str, int] = {}
    for pk in list(
        events.order_by("stripe_created", "id").values_list("pk", flat=True)
    ):
        status = process(event_pk=pk).status
        outcome[status] = outcome.get(status, 0) + 1
    audit_record(
        event_type="stripe_events.reprocessed",
        actor=actor,
        actor_label=actor_label,
        metadata={
            "failed": failed,
            "pending": pending,
            "stuck": stuck,
            "event_id": event_id,
            "outcome": outcome,
        },
    )
    return outcome


def retry_backoff(*, attempts: int) -> dt.timedelta:
    """How long a failed event rests after its `attempts`-th try before the
    scheduled retry: 2**attempts minutes, at most 6 hours."""
    if attempts >= 9:  # 2**9 minutes is past the cap; far larger overflows timedelta
        return RETRY_BACKOFF_CAP
    return min(dt.timedelta(minutes=2**attempts), RETRY_BACKOFF_CAP)


def events_due_for_retry(*, now: dt.datetime) -> QuerySet[StripeEvent]:
    """Failed and pending events whose backoff has elapsed at `now` (the last try's
    `processed_at` + `retry_backoff`), under RETRY_MAX_ATTEMPTS attempts; and events
    queued more than QUEUED_GRACE ago that no worker applied.

    Pending events are retried too: one marked pending while the event it waits for
    was being applied in another transaction can miss its wake-up, and in queue mode
    Stripe, already answered, will not deliver it again."""
    due = Q()
    for attempts in range(RETRY_MAX_ATTEMPTS):
        due |= Q(
            attempts=attempts,
            processed_at__lte=now - retry_backoff(attempts=attempts),
        )
    retryable = Q(status__in=[Status.FAILED, Status.PENDING])
    return StripeEvent.objects.filter((due & retryable) | _stuck(now))


def events_reprocess_due(
    *, now: dt.datetime | None = None, actor_label: str
) -> dict[str, int]:
    """Retry the events due at `now` (default: now; see events_due_for_retry),
    oldest first, each through `events_reprocess`; returns how many ended in each
    status.

    Writes what processing writes and one `stripe_events.reprocessed` audit row
    per event. Events at RETRY_MAX_ATTEMPTS stay failed, left for a person.
    """
    due = events_due_for_retry(now=now or timezone.now()).order_by(
        "stripe_created", "id"
    )
    outcome: dict[str, int] = {}
    for event_id in list(due.values_list("event_id", flat=True)):
        for status, count in events_reprocess(
            event_id=event_id, actor_label=actor_label
        ).items():
            outcome[status] = outcome.get(status, 0) + count
    return outcome
