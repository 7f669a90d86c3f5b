"""Payments' Celery tasks: the scheduled retry of Stripe events (django-celery-beat,
analyticsapp/0002) and the queue-mode task that applies one stored event.

Nothing imports this module but Celery's autodiscovery: the inbox publishes
`payments.process_stripe_event` by name (payments.services.inbox.PROCESS_TASK).
"""

from celery import shared_task

from audit.jobs import job_run
from payments.services.inbox import PROCESS_TASK, process
from payments.services.refunds import refund_requests_resend
from payments.services.reprocess import events_reprocess_due
from payments.services.settlement_sync import settlement_run

JOB = "reprocess_stripe_events"
ACTOR = f"celery:{JOB}"


@shared_task(name="payments.reprocess_stripe_events")
def reprocess_stripe_events_task() -> dict[str, int] | None:
    """Every 10 minutes: retry the failed and pending Stripe events whose backoff
    has elapsed (2**attempts minutes, at most 6 hours, 10 attempts) and apply the
    queued ones no worker applied within QUEUED_GRACE (`events_reprocess_due`).

    Then asks Stripe again, with the same idempotency key, for the refund requests
    it has not answered for 5 minutes (`refund_requests_resend`).

    Under the job lock (audit.jobs.job_run): writes what reprocessing writes and a
    `job.reprocess_stripe_events` audit row with the outcome. Returns how many
    events ended in each status, or None when another run held the lock.
    """

    def work():
        statuses = events_reprocess_due(actor_label=ACTOR)
        refunds = refund_requests_resend()
        return statuses, {"statuses": statuses, "refund_requests": refunds}

    return job_run(JOB, work)


@shared_task(name=PROCESS_TASK)
def process_stripe_event_task(event_pk: int) -> str:
    """Apply one stored Stripe event (the webhook's queue mode). Idempotent: the
    event row is locked and an applied event is left as it is. A failure is
    recorded on the event (`failed`, with its error) and retried by
    `reprocess_stripe_events` with its backoff; returns the event's status.

    Published by name (payments.services.inbox.enqueue). A worker killed mid-task
    rolls its transaction back: the event stays `received`, Redis redelivers the
    unacknowledged task after its visibility timeout, and the reprocess job applies
    the event first, once it is QUEUED_GRACE old."""
    return process(event_pk=event_pk).status


SETTLEMENT_JOB = "settlement_sync"


@shared_task(name="payments.settlement_sync")
def settlement_sync_task() -> dict[str, int] | None:
    """Every 5 minutes: with offline payments, first Stripe's daily automatic payout
    (the simulator's `run_payouts`); then ask Stripe for every missing balance
    transaction and the lines of every paid payout not yet listed
    (`payments.services.settlement.settlement_sync`), outside any transaction.

    Under the job lock; a `job.settlement_sync` audit row with the counts. Returns
    the counts, or None when another run held the lock."""

    def work():
        counts = settlement_run()
        return counts, counts

    return job_run(SETTLEMENT_JOB, work)
