"""Scheduled analytics work, run by django-celery-beat (see migrations/0002)."""

import datetime as dt

from celery import shared_task

from analyticsapp.kpis import default_as_of, kpis_warm
from analyticsapp.services.snapshots import snapshots_build
from audit.jobs import job_run

JOB = "nightly_snapshots"
ACTOR = f"celery:{JOB}"
# Wishlist conversions land up to 30 days after the add (docs/kpi_definitions.md).
TRAILING_DAYS = 31


@shared_task(name="analyticsapp.nightly_snapshots")
def nightly_snapshots_task() -> int | None:
    """Nightly at 02:00 REPORTING_TIMEZONE: rebuild the snapshots of the last 31
    complete business days, so late refunds and conversions land.

    Under the job lock (audit.jobs.job_run): writes what `snapshots_build` writes
    and a `job.nightly_snapshots` audit row with the outcome, then computes the
    dashboard's window KPIs into the cache (`kpis_warm`). Returns the
    SnapshotRun's id, or None when another run held the lock.
    """

    def work():
        date_to = default_as_of()
        date_from = date_to - dt.timedelta(days=TRAILING_DAYS - 1)
        run = snapshots_build(date_from=date_from, date_to=date_to, triggered_by=ACTOR)
        kpis_warm(as_of=date_to)
        return run.pk, {
            "snapshot_run": run.pk,
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
            "restated_days": run.restated_days,
        }

    return job_run(JOB, work)
