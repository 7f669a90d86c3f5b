"""Sending one recorded message (core.mail) now, and the retry schedule: what
the Celery task in core/tasks.py runs."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import models
from django.utils import timezone

from core.models import Message

SEND_TASK = "core.send_message"
BACKOFF_MAX_SECONDS = 60 * 60


def retry_delay(retries: int) -> int:
    """Seconds before the next try after `retries` retries: 1, 2, 4, ... minutes."""
    return min(60 * 2**retries, BACKOFF_MAX_SECONDS)


def message_deliver(*, message_pk: int, last_try: bool) -> Message:
    """Send one recorded message now, outside any transaction.

    A sent message is left as it is (a task delivered twice sends once). Counts
    the attempt; on success stores the provider's message id (anymail's, else the
    Message-ID header) and marks it sent; on failure stores the error, and marks
    it failed when `last_try`, then re-raises so the task retries or ends.
    """
    message = Message.objects.get(pk=message_pk)
    if message.status == Message.Status.SENT:
        return message
    Message.objects.filter(pk=message.pk).update(attempts=models.F("attempts") + 1)
    message.attempts += 1
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers={"Message-ID": make_msgid(domain=DNS_NAME)},
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    try:
        email.send()
    except Exception as exc:
        message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        fields = ["last_error", "updated_at"]
        if last_try:
            message.status = Message.Status.FAILED
            fields.append("status")
        message.save(update_fields=fields)
        raise
    status = getattr(email, "anymail_status", None)
    provider_id = getattr(status, "message_id", None) or email.extra_headers.get(
        "Message-ID", ""
    )
    message.status = Message.Status.SENT
    message.provider_message_id = str(provider_id)[:255]
    message.sent_at = timezone.now()
    message.last_error = ""
    message.save(
        update_fields=[
            "status",
            "provider_message_id",
            "sent_at",
            "last_error",
            "updated_at",
        ]
    )
    return message
