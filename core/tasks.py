"""Core's Celery task: sending one recorded message (core.mail_delivery).

Published by name after commit (core.mail.message_dispatch), or run in-process
with MESSAGES_DELIVERY=inline.
"""

from celery import shared_task
from django.conf import settings

from core.mail_delivery import SEND_TASK, message_deliver, retry_delay


@shared_task(bind=True, name=SEND_TASK, max_retries=None)
def send_message_task(self, message_pk: int) -> str:
    """Send one message; a failure is retried 1, 2, 4, ... minutes later, and
    after MESSAGES_MAX_ATTEMPTS tries the row is failed and the task ends.

    Writes the attempt, the provider's id or the error on the Message row.
    Returns the message's status.
    """
    last_try = self.request.retries + 1 >= settings.MESSAGES_MAX_ATTEMPTS
    try:
        return message_deliver(message_pk=message_pk, last_try=last_try).status
    except Exception as exc:
        if last_try:
            return "failed"
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
