"""The webhook's front door: verify a delivery, then hand it to the inbox.

`receive` is what `POST /payments/webhook/` and the offline gateway both call.
Bad input (no or wrong signature, stale timestamp, not JSON, not an event, too big)
is refused with 400/413 before anything is stored. Storing and applying the event
is the inbox's (payments/services/inbox.py): a processing error leaves the event
`failed` with its error and answers 500 so Stripe retries; an event that cannot
apply yet stays `pending` until its prerequisite arrives.
"""

import json
import logging
import time
from dataclasses import dataclass

import stripe
from django.conf import settings

from payments.models import StripeEvent
from payments.services import inbox

logger = logging.getLogger("payments.webhook")
MAX_BODY_BYTES = 1024 * 1024
TOO_BIG = "body larger than 1 MiB"
TOLERANCE_SECONDS = 300  # a signature's timestamp this far in the past or future
MAX_DEPTH = 64  # Stripe's objects nest a dozen levels at most


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
    # Stripe's check refuses old timestamps only; one from the future is as stale.
    if _signed_at(signature) > time.time() + TOLERANCE_SECONDS:
        raise stripe.SignatureVerificationError("Timestamp in the future", signature)
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise BadEvent(f"body nests deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        raise BadEvent("body is not JSON") from exc
    if _depth(data) > MAX_DEPTH:
        raise BadEvent(f"body nests deeper than {MAX_DEPTH} levels")
    return _check_shape(data)


def _signed_at(signature: str) -> int:
    """The `t=` of a Stripe-Signature header (0 when absent: the check refused it)."""
    for item in signature.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return 0


def _depth(value) -> int:
    """How deep JSON containers nest, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, level + 1) for child in children)
    return deepest


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


def _log_refused(reason: str) -> None:
    logger.warning("webhook refused: %s", reason, extra={"outcome": "refused"})


def receive(*, body: bytes, signature: str | None) -> WebhookResult:
    """Verify one delivery and hand the event to the inbox; the HTTP answer.

    Writes nothing for a refused body (logged as `refused`). Inline mode applies
    the event now (payments.services.inbox: store_and_process, or process for
    one stored before) and answers 500 if it failed, so Stripe retries; queue
    mode stores it and publishes its task (inbox.enqueue), answering 200 at once.
    """
    if len(body) > MAX_BODY_BYTES:
        _log_refused(f"body of {len(body)} bytes is larger than 1 MiB")
        return WebhookResult(413, TOO_BIG)
    try:
        data = verify(body, signature)
    except stripe.SignatureVerificationError as exc:
        _log_refused(f"bad signature ({exc.user_message or exc})")
        return WebhookResult(400, "invalid signature")
    except BadEvent as exc:
        _log_refused(str(exc))
        return WebhookResult(400, str(exc))
    if settings.STRIPE_WEBHOOK_PROCESSING == "queue":
        event, queued = inbox.enqueue(data=data)
        return WebhookResult(200, "queued" if queued else "duplicate", event)
    event = inbox.store_and_process(data=data)
    if event is None:  # already in the inbox: a replay, or a retry after a failure
        event, applied_before = inbox.process_redelivery(event_id=data["id"])
        if applied_before:
            return WebhookResult(200, "duplicate", event)
    if event.status == StripeEvent.Status.FAILED:
        return WebhookResult(500, "processing failed; Stripe will retry", event)
    return WebhookResult(200, event.status, event)
