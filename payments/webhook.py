"""The webhook pipeline: verify, store once in the inbox, process in one transaction.

`receive` is what `POST /payments/webhook/` and the offline gateway both call.
Bad input (no or wrong signature, stale timestamp, not JSON, not an event, too big)
is refused with 400/413 before anything is stored. A processing error leaves the
event `failed` with its error and answers 500 so Stripe retries; an event that
cannot apply yet stays `pending` until its prerequisite arrives.
"""

import datetime as dt
import json
import logging
from dataclasses import dataclass

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from payments.handlers import HANDLERS, NotYet, Woken
from payments.models import StripeEvent

logger = logging.getLogger("payments.webhook")
MAX_BODY_BYTES = 1024 * 1024
TOLERANCE_SECONDS = 300
Status = StripeEvent.Status
# What processing changes on an event (the payload is written once, by store).
PROCESSING_FIELDS = ["status", "awaiting", "attempts", "last_error", "processed_at"]


@dataclass(frozen=True)
class WebhookResult:
    status: int
    message: str
    event: StripeEvent | None = None


class BadEvent(ValueError):
    """The body is signed correctly but is not a Stripe event."""


def _secrets() -> list[str]:
    """STRIPE_WEBHOOK_SECRET may list several (comma-separated) during a roll."""
    return [s.strip() for s in settings.STRIPE_WEBHOOK_SECRET.split(",") if s.strip()]


def verify(body: bytes, signature: str | None) -> dict:
    """The event as a dict, or raises stripe.SignatureVerificationError / BadEvent.

    The signature check is Stripe's own (`WebhookSignature.verify_header`, which
    `Webhook.construct_event` runs first); the JSON is parsed here because
    construct_event crashes on signed JSON that is not an object and returns a
    StripeObject, where the handlers want a plain dict.
    """
    if not signature:
        raise stripe.SignatureVerificationError("No Stripe-Signature header", signature)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadEvent("body is not UTF-8") from exc
    error = None
    for secret in _secrets():
        try:
            stripe.WebhookSignature.verify_header(
                text, signature, secret, tolerance=TOLERANCE_SECONDS
            )
            break
        except stripe.SignatureVerificationError as exc:
            error = exc
    else:
        raise error or stripe.SignatureVerificationError("no secret set", signature)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadEvent("body is not JSON") from exc
    return _check_shape(data)


def _check_shape(data) -> dict:
    if not isinstance(data, dict):
        raise BadEvent("not a JSON object")
    if not isinstance(data.get("id"), str) or not data["id"]:
        raise BadEvent("event has no id")
    if not isinstance(data.get("type"), str) or not data["type"]:
        raise BadEvent("event has no type")
    obj = (
        (data.get("data") or {}).get("object")
        if isinstance(data.get("data"), dict)
        else None
    )
    if not isinstance(obj, dict):
        raise BadEvent("event has no data.object")
    if not isinstance(data.get("created"), int):
        raise BadEvent("event has no created time")
    return data


def _log_outcome(event: StripeEvent, outcome: str, detail: str = "", **kwargs):
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


def _log_refused(reason: str) -> None:
    logger.warning("webhook refused: %s", reason, extra={"outcome": "refused"})


def receive(*, body: bytes, signature: str | None) -> WebhookResult:
    if len(body) > MAX_BODY_BYTES:
        _log_refused(f"body of {len(body)} bytes is larger than 1 MiB")
        return WebhookResult(413, "body larger than 1 MiB")
    try:
        data = verify(body, signature)
    except stripe.SignatureVerificationError as exc:
        _log_refused(f"bad signature ({exc.user_message or exc})")
        return WebhookResult(400, "invalid signature")
    except BadEvent as exc:
        _log_refused(str(exc))
        return WebhookResult(400, str(exc))
    if settings.STRIPE_WEBHOOK_PROCESSING == "queue":
        return _enqueue(data)
    event = store_and_process(data)
    if event is None:  # already in the inbox: a replay, or a retry after a failure
        event = StripeEvent.objects.get(event_id=data["id"])
        if event.status in (Status.PROCESSED, Status.IGNORED):
            _log_outcome(event, "duplicate", "no-op")
            return WebhookResult(200, "duplicate", event)
        event = process(event.pk)
    if event.status == Status.FAILED:
        return WebhookResult(500, "processing failed; Stripe will retry", event)
    return WebhookResult(200, event.status, event)


def _enqueue(data: dict) -> WebhookResult:
    """Queue mode: store the event once and answer at once; a Celery worker applies
    it (`payments.process_stripe_event`). A replay of an applied event is a no-op;
    one not applied yet is queued again (processing is idempotent under a row
    lock). If the broker cannot be reached the event still answers 200: it is
    stored, and the reprocess job sweeps events left `received`."""
    event, created = store(data)
    if not created and event.status in (Status.PROCESSED, Status.IGNORED):
        _log_outcome(event, "duplicate", "no-op")
        return WebhookResult(200, "duplicate", event)
    from payments.tasks import process_stripe_event_task

    try:
        process_stripe_event_task.delay(event.pk)
    except Exception as exc:  # the broker is down: the sweep will pick it up
        logger.warning(
            "webhook %s: not queued (%s); the reprocess job will apply it",
            event.event_id,
            type(exc).__name__,
            extra={"stripe_event_id": event.event_id, "outcome": "not_queued"},
        )
    _log_outcome(event, "queued")
    return WebhookResult(200, "queued", event)


def _inbox_row(data: dict) -> StripeEvent:
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


def store(data: dict) -> tuple[StripeEvent, bool]:
    """Insert the event into the inbox once; a replay finds the stored row."""
    try:
        with transaction.atomic():
            event = _inbox_row(data)
            event.save(force_insert=True)
            return event, True
    except IntegrityError:
        return StripeEvent.objects.get(event_id=data["id"]), False


def store_and_process(data: dict) -> StripeEvent | None:
    """A new event: insert it into the inbox and apply it in one transaction.

    Returns None, changing nothing, when the event id is already stored. The
    inserted row is this transaction's until it commits, so a concurrent delivery
    of the same event waits on the unique event id and then finds it applied.
    A failure rolls back both, then stores the event `failed` (as `process` does).
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
        stored, created = store(data)
        if not created:  # a concurrent delivery stored it meanwhile
            return process(stored.pk)
        return _fail(stored.pk, exc)
    _log_outcome(event, event.status, event.awaiting and f"awaiting {event.awaiting}")
    if woken:
        wake(woken)
    return event


def process(event_pk: int) -> StripeEvent:
    """Apply one stored event in one transaction; wake the events it unblocks.

    Re-running a processed or ignored event does nothing. The row lock makes
    concurrent deliveries of one event apply it once.
    """
    try:
        with transaction.atomic():
            event = StripeEvent.objects.select_for_update().get(pk=event_pk)
            if event.status in (Status.PROCESSED, Status.IGNORED):
                _log_outcome(event, "duplicate", f"already {event.status}")
                return event
            woken = _apply(event)
    except Exception as exc:  # any failure: keep the event, say why, let Stripe retry
        return _fail(event_pk, exc)
    _log_outcome(event, event.status, event.awaiting and f"awaiting {event.awaiting}")
    if woken:
        wake(woken)
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
    _log_outcome(failed, Status.FAILED, type(exc).__name__, exc_info=exc)
    return failed


def wake(ids: list[str]) -> None:
    """Process the pending events that wait for any of these Stripe ids."""
    waiting = StripeEvent.objects.filter(
        status=Status.PENDING, awaiting__in=[i for i in ids if i]
    ).order_by("stripe_created", "id")
    for pk in list(waiting.values_list("pk", flat=True)):
        process(pk)
