"""The StripeEvent inbox: store each event once, apply it in one transaction.

The webhook (`payments.webhook.receive`) hands verified events here; the Celery
task, reprocessing and the history import use the same functions, so an event
is applied the same way whichever path brings it. Applying is idempotent under
the event's row lock: an applied (`processed` or `ignored`) event is left as it
is. An event that cannot apply yet stays `pending` until its prerequisite
arrives (`wake`); one that raises is kept `failed` with its error.

Queue mode (`enqueue`) publishes the processing task by name, so this module
never imports `payments.tasks` (which imports it).
"""

import datetime as dt
import json
import logging
import re

from celery import current_app
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from payments.handlers import HANDLERS, NotYet, Woken
from payments.models import StripeEvent
from payments.services.settlement import harvest

# The outcome lines keep the webhook's logger name: operators search the logs by
# it, and the import command quietens it while it prints progress.
logger = logging.getLogger("payments.webhook")
Status = StripeEvent.Status
# What processing changes on an event (the payload is written once, by store).
PROCESSING_FIELDS = ["status", "awaiting", "attempts", "last_error", "processed_at"]
# The Celery task that applies one queued event (payments/tasks.py).
PROCESS_TASK = "payments.process_stripe_event"
APPLIED = (Status.PROCESSED, Status.IGNORED)


def log_outcome(event: StripeEvent, outcome: str, detail: str = "", **kwargs):
    """One line per event handled: its id, type and outcome (also as `extra=`
    fields, so JSON logs can be searched by them). Failures log as errors."""
    level = logging.ERROR if outcome == Status.FAILED else logging.INFO
    logger.log(
        level,
        "webhook %s %s: %s%s",
        event.event_id,
        event.type,
        outcome,
        f" ({detail})" if detail else "",
        extra={
            "stripe_event_id": event.event_id,
            "stripe_event_type": event.type,
            "outcome": str(outcome),
        },
        **kwargs,
    )


# U+0000 in a string (a description, a metadata value): PostgreSQL's jsonb cannot
# hold it, so every stored event has it as U+FFFD, the replacement character, on
# every database alike (docs/data_governance.md). An escape preceded by an odd
# number of backslashes is a literal "\\u0000" text, left alone.
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def without_nul(data: dict) -> dict:
    """The event with every U+0000 in its strings (keys too) as U+FFFD."""
    text = json.dumps(data)
    if "\\u0000" not in text:
        return data
    return json.loads(_NUL_ESCAPE.sub(r"\1\\ufffd", text))


def _inbox_row(data: dict) -> StripeEvent:
    data = without_nul(data)
    obj = data["data"]["object"]
    return StripeEvent(
        event_id=data["id"],
        type=data["type"],
        api_version=str(data.get("api_version") or "")[:50],
        livemode=bool(data.get("livemode")),
        stripe_created=dt.datetime.fromtimestamp(data["created"], tz=dt.UTC),
        object_id=str(obj.get("id") or "")[:255],
        payload=data,
    )


def store(*, data: dict) -> tuple[StripeEvent, bool]:
    """Insert the event into the inbox once; a replay finds the stored row.

    Writes one `received` StripeEvent row when the id is new. Returns the row
    and whether this call inserted it.
    """
    try:
        with transaction.atomic():
            event = _inbox_row(data)
            event.save(force_insert=True)
            return event, True
    except IntegrityError:
        return StripeEvent.objects.get(event_id=data["id"]), False


def store_and_process(*, data: dict) -> StripeEvent | None:
    """A new event: insert it into the inbox and apply it in one transaction.

    Returns None, changing nothing, when the event id is already stored. The
    inserted row is this transaction's until it commits, so a concurrent delivery
    of the same event waits on the unique event id and then finds it applied.
    A failure rolls back both, then stores the event `failed` (as `process` does).
    Writes what the event's handler writes; wakes the events it unblocks.
    """
    event = _inbox_row(data)
    woken: list[str] = []
    try:
        with transaction.atomic():
            event.save(force_insert=True)
            woken = _apply(event)
    except Exception as exc:
        if event._state.adding:  # the insert itself failed
            if isinstance(exc, IntegrityError):
                return None
            raise
        stored, created = store(data=data)
        if not created:  # a concurrent delivery stored it meanwhile
            return process(event_pk=stored.pk)
        return _fail(stored.pk, exc)
    log_outcome(event, event.status, event.awaiting and f"awaiting {event.awaiting}")
    if woken:
        wake(ids=woken)
    return event


def process_redelivery(*, event_id: str) -> tuple[StripeEvent, bool]:
    """A delivery of an event already in the inbox: one applied before is left as
    it is (logged as a duplicate), any other is processed now.

    Returns the event and whether it had been applied before. Writes what
    `process` writes.
    """
    event = StripeEvent.objects.get(event_id=event_id)
    if event.status in APPLIED:
        log_outcome(event, "duplicate", "no-op")
        return event, True
    return process(event_pk=event.pk), False


def process(*, event_pk: int) -> StripeEvent:
    """Apply one stored event in one transaction; wake the events it unblocks.

    Re-running a processed or ignored event does nothing. The row lock makes
    concurrent deliveries of one event apply it once. Writes what the handler
    writes and the event's outcome; a failure marks the event `failed`.
    """
    try:
        with transaction.atomic():
            event = StripeEvent.objects.select_for_update().get(pk=event_pk)
            if event.status in APPLIED:
                log_outcome(event, "duplicate", f"already {event.status}")
                return event
            woken = _apply(event)
    except Exception as exc:  # any failure: keep the event, say why, retry later
        return _fail(event_pk, exc)
    log_outcome(event, event.status, event.awaiting and f"awaiting {event.awaiting}")
    if woken:
        wake(ids=woken)
    return event


def _apply(event: StripeEvent) -> list[str]:
    """Run the event's handler and record the outcome on the (locked) event row,
    inside the caller's transaction; returns the Stripe ids to wake."""
    woken: list[str] = []
    event.attempts += 1
    handler = HANDLERS.get(event.type)
    if handler is None:
        event.status, event.awaiting = Status.IGNORED, ""
    else:
        try:
            with transaction.atomic():
                outcome = handler(event.payload)
            event.status, event.awaiting = Status.PROCESSED, ""
            if isinstance(outcome, Woken):
                woken = outcome.ids
        except NotYet as wait:
            event.status, event.awaiting = Status.PENDING, wait.awaiting[:255]
        # Stripe's facts whatever our ledger knows yet: the balance transactions
        # expanded in the object, after the handler's locks (payments/locks.py).
        harvest(event.payload)
    event.last_error = ""
    event.processed_at = timezone.now()
    event.save(update_fields=PROCESSING_FIELDS)
    return woken


def _fail(event_pk: int, exc: Exception) -> StripeEvent:
    """Mark the stored event failed with its error, so Stripe's retry (or
    reprocess_stripe_events) applies it later."""
    StripeEvent.objects.filter(pk=event_pk).update(
        status=Status.FAILED,
        last_error=f"{type(exc).__name__}: {exc}"[:5000],
        attempts=F("attempts") + 1,
        processed_at=timezone.now(),
    )
    failed = StripeEvent.objects.get(pk=event_pk)
    log_outcome(failed, Status.FAILED, type(exc).__name__, exc_info=exc)
    return failed


def wake(*, ids: list[str]) -> None:
    """Process the pending events that wait for any of these Stripe ids.

    Writes what `process` writes for each of them, oldest first.
    """
    waiting = StripeEvent.objects.filter(
        status=Status.PENDING, awaiting__in=[i for i in ids if i]
    ).order_by("stripe_created", "id")
    for pk in list(waiting.values_list("pk", flat=True)):
        process(event_pk=pk)


def enqueue(*, data: dict) -> tuple[StripeEvent, bool]:
    """Queue mode: store the event once and leave applying it to a Celery worker.

    Returns the event and whether it was queued: False for a replay of an applied
    event (a no-op); a stored one not applied yet is queued again (processing is
    idempotent under the row lock). Writes the inbox row if new and, once it is
    committed, publishes `payments.process_stripe_event` with the event's pk.
    """
    event, created = store(data=data)
    if not created and event.status in APPLIED:
        log_outcome(event, "duplicate", "no-op")
        return event, False
    # After commit: a worker quicker than this transaction would not find the row.
    transaction.on_commit(lambda: _publish(event))
    log_outcome(event, "queued")
    return event, True


def _publish(event: StripeEvent) -> None:
    """Publish the event's processing task, or leave the event to the sweep.

    One attempt, no retry: with the broker down every webhook request would
    otherwise wait out Celery's retry policy and kombu's reconnect loop. The
    connection attempt itself is bounded by the Redis transport's connect timeout
    (CELERY_BROKER_TRANSPORT_OPTIONS). An event not published stays `received`,
    and the reprocess job (or `reprocess_stripe_events --stuck`) applies it once
    it is QUEUED_GRACE old.
    """
    try:
        current_app.send_task(PROCESS_TASK, args=[event.pk], retry=False)
    except Exception as exc:  # the broker is down: the sweep will pick it up
        logger.warning(
            "webhook %s: not queued (%s); the reprocess job will apply it",
            event.event_id,
            type(exc).__name__,
            extra={"stripe_event_id": event.event_id, "outcome": "not_queued"},
        )
