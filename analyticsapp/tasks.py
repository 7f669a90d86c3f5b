"""Scheduled analytics work, run by django-celery-beat (see migrations/0002)."""

import datetime as dt

from celery import shared_task
from django.conf import settings

from analyticsapp.kpis import default_as_of
from analyticsapp.services.history import (
    stripe_catch_up_and_rebuild,
    stripe_objects_import,
)
from analyticsapp.services.snapshots import snapshots_build
from audit.jobs import job_run
from payments.gateway import get_gateway
from payments.services.backfill import ApiSource, DirSource, since_timestamp

JOB = "nightly_snapshots"
ACTOR = f"celery:{JOB}"
# Wishlist conversions land up to 30 days after the add (docs/kpi_definitions.md).
TRAILING_DAYS = 31


@shared_task(name="analyticsapp.nightly_snapshots")
def nightly_snapshots_task() -> int | None:
    """Nightly at 02:00 REPORTING_TIMEZONE: rebuild the snapshots of the last 31
    complete business days, so late refunds and conversions land.

    Under the job lock (audit.jobs.job_run): writes what `snapshots_build` writes
    and a `job.nightly_snapshots` audit row with the outcome; the build then
    computes the dashboard's window KPIs into the cache. Returns the
    SnapshotRun's id, or None when another run held the lock.
    """

    def work():
        date_to = default_as_of()
        date_from = date_to - dt.timedelta(days=TRAILING_DAYS - 1)
        # The build warms the dashboard's windows once it commits.
        run = snapshots_build(date_from=date_from, date_to=date_to, triggered_by=ACTOR)
        return run.pk, {
            "snapshot_run": run.pk,
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
            "restated_days": run.restated_days,
        }

    return job_run(JOB, work)


CATCH_UP_JOB = "stripe_catch_up"


@shared_task(name="analyticsapp.stripe_catch_up")
def stripe_catch_up_task() -> dict | None:
    """Hourly: ask Stripe for the events of the last hours and apply those the
    webhook never delivered (an outage longer than Stripe's three days of retries
    heals), then rebuild the snapshots of the days they touched
    (`stripe_catch_up_and_rebuild`). Offline payments have no Stripe to ask: the
    task returns {"skipped": "offline"} and writes nothing.

    Under the job lock: writes what the catch-up and the rebuild write and a
    `job.stripe_catch_up` audit row. Returns the counts, or None when another run
    held the lock."""
    if not settings.PAYMENTS_USE_STRIPE:
        return {"skipped": "offline"}

    def work():
        caught, rebuilt = stripe_catch_up_and_rebuild(
            gateway=get_gateway(), actor_label=f"celery:{CATCH_UP_JOB}"
        )
        counts = {
            "since": caught.since.isoformat(),
            "listed": caught.listed,
            "new": caught.summary.totals["new"],
            "rebuilt": [day.isoformat() for day in rebuilt] if rebuilt else None,
        }
        return counts, counts

    return job_run(CATCH_UP_JOB, work)


HISTORY_JOB = "import_stripe_history"


@shared_task(name="analyticsapp.import_stripe_history")
def import_stripe_history_task(from_dir: str = "", since: str = "") -> dict | None:
    """A history backfill as a job (`import_stripe_history` run by a worker):
    from an export directory the worker can read, else from Stripe's API
    (`since`: a YYYY-MM-DD day). Resumes where an earlier run stopped; its state
    shows on /monitoring/ for admins.

    Under the job lock: writes what `stripe_objects_import` writes and a
    `job.import_stripe_history` audit row. Returns the objects read per list, or
    None when another run held the lock."""

    def work():
        if from_dir:
            source = DirSource(from_dir)
        else:
            start = since_timestamp(dt.date.fromisoformat(since)) if since else None
            source = ApiSource(get_gateway(), since=start)
        done = stripe_objects_import(source=source, actor_label=f"celery:{HISTORY_JOB}")
        counts = {
            "source": source.label,
            "objects": dict(done.backfill.objects),
            "new_events": done.summary.totals["new"],
            "balance_transactions": done.backfill.balance_transactions,
        }
        return counts, counts

    return job_run(HISTORY_JOB, work)
