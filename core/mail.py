"""Transactional email: every message recorded, rendered once, sent after commit.

`message_send` renders a kind's templates (templates/emails/<kind>/subject.txt,
body.txt and body.html, on emails/base.*), records one `Message` per recipient
(queued) and, once the transaction commits, hands it to the Celery task in
core/tasks.py, which sends it through Django's mail framework (EMAIL_URL) and
retries a failure with exponential backoff; after the last try the row is failed
and monitoring's `messages_failed` check raises it. Nothing goes out for a
transaction that rolls back, and no network call happens inside one.

A message of a kind about a thing goes to a person once per dedupe key (a unique
constraint), so Stripe's at-least-once deliveries never send it twice.
"""

import logging
from collections.abc import Iterable
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from core.mail_delivery import SEND_TASK
from core.models import Message
from core.tasks import send_message_task

logger = logging.getLogger(__name__)

# Every kind of message, with the words the order timeline and the outbox use.
KINDS = {
    "order_confirmation": "Order confirmation",
    "order_dispatched": "Dispatch notice",
    "refund_issued": "Refund notice",
    "subscription_payment_failed": "Subscription payment failed",
    "subscription_renewal": "Subscription renewal receipt",
    "subscription_canceled": "Subscription cancellation",
    "staff_issue_alert": "Staff alert: monitoring issue",
    "staff_digest": "Staff digest: open issues",
    "account_verify": "Email address confirmation",
    "signup_existing": "Sign-up with an address that has an account",
    "password_reset": "Password reset link",
    "staff_invite": "Staff invitation",
}


def kind_label(kind: str) -> str:
    return KINDS.get(kind, kind.replace("_", " "))


def message_target(target) -> tuple[str, str]:
    """(type, id) of what a message is about: a model row ("order", "12") or a
    (type, id) pair; ("", "") for none."""
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.model_name, str(target.pk)
    kind, pk = target
    return str(kind), str(pk)


def message_render(kind: str, context: dict) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of a kind of message for `context`."""
    context = {"site_url": settings.SITE_URL, **context}
    subject = render_to_string(f"emails/{kind}/subject.txt", context)
    text = render_to_string(f"emails/{kind}/body.txt", context)
    html = render_to_string(f"emails/{kind}/body.html", context)
    return " ".join(subject.split())[:200], text.strip() + "\n", html


def message_send(
    *,
    kind: str,
    to: str | Iterable[str],
    context: dict,
    target=None,
    dedupe_key: str = "",
) -> list[Message]:
    """Record a message of `kind` to each address in `to` and send it after commit.

    Renders the kind's templates with `context` now (the rows they read are the
    ones this transaction sees), so what is sent and what the outbox shows are
    the same text. Skips a kind in MESSAGES_DISABLED (every kind for "*"), an
    empty address, and a recipient who already has this message (same kind,
    target and dedupe key).
    Writes the Message rows (queued); queues their sending with on_commit.
    Returns the rows it recorded.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of message: {kind}")
    if kind in settings.MESSAGES_DISABLED or "*" in settings.MESSAGES_DISABLED:
        return []
    recipients = [to] if isinstance(to, str) else list(to)
    recipients = list(dict.fromkeys(r.strip() for r in recipients if r and r.strip()))
    target_type, target_id = message_target(target)
    key = {
        "kind": kind,
        "target_type": target_type,
        "target_id": target_id,
        "dedupe_key": dedupe_key[:100],
    }
    already = set(
        Message.objects.filter(**key, recipient__in=recipients).values_list(
            "recipient", flat=True
        )
    )
    recipients = [r for r in recipients if r not in already]
    if not recipients:
        return []
    subject, text, html = message_render(kind, context)
    recorded = []
    for recipient in recipients:
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    **key,
                    recipient=recipient,
                    subject=subject,
                    body_text=text,
                    body_html=html,
                )
        except IntegrityError:  # recorded meanwhile by a concurrent delivery
            continue
        recorded.append(message)
        transaction.on_commit(partial(message_dispatch, message.pk))
    return recorded


def message_dispatch(message_pk: int) -> None:
    """Hand a recorded message to its sender (MESSAGES_DELIVERY): publish the
    Celery task, or run it here. A broker that refuses the publish leaves the
    row queued for `resend_messages --queued` and the messages_failed check."""
    if settings.MESSAGES_DELIVERY == "inline":
        send_message_task.apply(args=[message_pk])
        return
    try:
        current_app.send_task(SEND_TASK, args=[message_pk], retry=False)
    except Exception:  # the broker is down: the row waits, queued
        logger.exception("message %s not queued: the broker refused it", message_pk)


def messages_resend(
    *, ids: Iterable[int] = (), failed: bool = False, queued_before=None
):
    """Send again the messages named by `ids`, every failed one (`failed`), and
    those still queued from before `queued_before` (a publish the broker refused).

    Marks them queued and dispatches each after commit (a sent one is never sent
    twice: the task skips it). Returns the rows it queued.
    """
    condition = models.Q(pk__in=list(ids))
    if failed:
        condition |= models.Q(status=Message.Status.FAILED)
    if queued_before is not None:
        condition |= models.Q(
            status=Message.Status.QUEUED, created_at__lt=queued_before
        )
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update()
            .filter(condition)
            .exclude(status=Message.Status.SENT)
            .order_by("pk")
        )
        Message.objects.filter(pk__in=[m.pk for m in rows]).update(
            status=Message.Status.QUEUED, updated_at=timezone.now()
        )
        for message in rows:
            transaction.on_commit(partial(message_dispatch, message.pk))
    return rows


def messages_for_target(target) -> models.QuerySet:
    """The messages about one thing, oldest first."""
    target_type, target_id = message_target(target)
    return Message.objects.filter(
        target_type=target_type, target_id=target_id
    ).order_by("created_at", "pk")


def messages_erase_recipient(*, email: str, new_email: str) -> int:
    """A person's erasure (payments.services.anonymise): the messages sent to
    `email` keep their kind, target, status and times, but go to `new_email` and
    lose their bodies (a name, an address). Returns how many changed."""
    return Message.objects.filter(recipient__iexact=email).update(
        recipient=new_email,
        body_text="(erased on the customer's request)\n",
        body_html="",
        updated_at=timezone.now(),
    )
