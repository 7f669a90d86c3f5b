"""Scheduled catalog work, run by django-celery-beat (catalog/migrations/0002)."""

from celery import shared_task

from audit.jobs import job_run
from catalog.services.stock import reservations_expire

JOB = "expire_reservations"
ACTOR = f"celery:{JOB}"


@shared_task(name="catalog.expire_reservations")
def expire_reservations_task() -> int | None:
    """Every 5 minutes: release expired stock reservations.

    Under the job lock (audit.jobs.job_run): writes the expiries (and their audit
    row, when any) and a `job.expire_reservations` audit row with the outcome.
    Returns how many reservations expired, or None when another run held the lock.
    """

    def work():
        expired = reservations_expire(actor_label=ACTOR)
        return expired, {"expired": expired}

    return job_run(JOB, work)
