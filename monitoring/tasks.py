"""Scheduled monitoring work, run by django-celery-beat (analyticsapp/0002)."""

from celery import shared_task

from audit.jobs import job_run

JOB = "run_checks"
ACTOR = f"celery:{JOB}"


@shared_task(name="monitoring.run_checks")
def run_checks_task() -> dict | None:
    """Hourly: run the data-quality checks.

    Under the job lock (audit.jobs.job_run): writes what `checks_run` writes and a
    `job.run_checks` audit row with the outcome. Returns the counts, or None when
    another run held the lock.
    """
    from monitoring.services import checks_run  # the services import the checks

    def work():
        result = checks_run(actor_label=ACTOR)
        counts = {
            "opened": result.opened,
            "resolved": result.resolved,
            "open_total": result.open_total,
        }
        return counts, counts

    return job_run(JOB, work)


DIGEST_JOB = "staff_digest"


@shared_task(name="monitoring.staff_digest")
def staff_digest_task() -> dict | None:
    """Daily at 08:00: email every admin the critical and high issues still open
    (monitoring.services.staff_digest_send), under its job lock, audited as
    `job.staff_digest`. Returns the counts, or None when another run held the lock."""
    from monitoring.services import staff_digest_send

    def work():
        counts = {"messages": staff_digest_send()}
        return counts, counts

    return job_run(DIGEST_JOB, work)
