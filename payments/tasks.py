"""Scheduled payments work, run by django-celery-beat (analyticsapp/0002)."""

from celery import shared_task

from audit.jobs import job_run
from payments.services.reprocess import events_reprocess_due
from payments.webhook import process

JOB = "reprocess_stripe_events"
ACTOR = f"celery:{JOB}"


@shared_task(name="payments.reprocess_stripe_events")
def reprocess_stripe_events_task() -> dict[str, int] | None:
    """Every 10 minutes: retry the failed Stripe events whose backoff has elapsed
    (`events_reprocess_due`: 2**attempts minutes, at most 6 hours, 10 attempts).

    Under the job lock (audit.jobs.job_run): writes what reprocessing writes and a
    `job.reprocess_stripe_events` audit row with the outcome. Returns how many
    events ended in each status, or None when another run held the lock.
    """

    def work():
        statuses = events_reprocess_due(actor_label=ACTOR)
        return statuses, {"statuses": statuses}

    return job_run(JOB, work)


@shared_task(name="payments.process_stripe_event")
def process_stripe_event_task(event_pk: int) -> str:
    """Apply one stored Stripe event (the webhook's queue mode). Idempotent: the
    event row is locked and an applied event is left as it is. A failure is
    recorded on the event (`failed`, with its error) and retried by
    `reprocess_stripe_events` with its backoff; returns the event's status."""
    return process(event_pk).status
