import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from analyticsapp.kpis import Window, kpis_for
from analyticsapp.models import DailySnapshot, SnapshotRun
from analyticsapp.services.snapshots import snapshots_build
from analyticsapp.tasks import nightly_snapshots_task
from audit.models import AuditLog
from core.tests.locks import job_lock_held_elsewhere
from payments.models import Payment

pytestmark = pytest.mark.django_db

# 02:00 in London (summer time) on 2 July: the last complete business day is 1 July.
NIGHT = dt.datetime(2025, 7, 2, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def at_night(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NIGHT)


def _late_payment(charge, paid_at):
    Payment.objects.create(
        stripe_charge_id=charge,
        source="other",
        amount_pennies=2500,
        currency="GBP",
        paid_at=paid_at,
    )


def _other_revenue(day):
    return DailySnapshot.objects.get(day=day).other_revenue_pennies


def test_nightly_task_rebuilds_the_last_31_days_so_late_payments_land(at_night):
    snapshots_build(
        date_from=dt.date(2025, 5, 31), date_to=dt.date(2025, 7, 1), triggered_by="t"
    )
    # Arriving late: one on the window's first day, one the day before it.
    _late_payment("ch_in", dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC))
    _late_payment("ch_out", dt.datetime(2025, 5, 31, 12, tzinfo=dt.UTC))

    run_id = nightly_snapshots_task.apply().get()

    run = SnapshotRun.objects.get(pk=run_id)
    assert (run.date_from, run.date_to) == (dt.date(2025, 6, 1), dt.date(2025, 7, 1))
    assert (run.days_built, run.restated_days) == (31, 1)
    assert run.triggered_by == "celery:nightly_snapshots"
    assert _other_revenue(dt.date(2025, 6, 1)) == 2500
    assert _other_revenue(dt.date(2025, 5, 31)) == 0
    job = AuditLog.objects.get(event_type="job.nightly_snapshots")
    assert job.actor_label == "celery:nightly_snapshots"
    assert job.metadata == {
        "outcome": "ran",
        "snapshot_run": run.pk,
        "date_from": "2025-06-01",
        "date_to": "2025-07-01",
        "restated_days": 1,
    }


def test_nightly_task_leaves_the_dashboard_windows_computed(
    at_night, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the build's commit
        nightly_snapshots_task.apply().get()

    window = Window.ending(dt.date(2025, 7, 1), 90)
    with CaptureQueriesContext(connection) as queries:
        kpis_for(window)
        kpis_for(window.previous())
    # Only the build generation is read: the numbers were cached by the task.
    assert len(queries) == 2


def test_nightly_task_skips_while_another_run_holds_the_lock(at_night):
    with job_lock_held_elsewhere("nightly_snapshots"):
        assert nightly_snapshots_task.apply().get() is None

    assert not SnapshotRun.objects.exists()
    job = AuditLog.objects.get(event_type="job.nightly_snapshots")
    assert job.metadata == {"outcome": "skipped"}


def test_nightly_task_audits_a_failure_releases_its_lock_and_reraises(
    at_night, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("analyticsapp.tasks.snapshots_build", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        nightly_snapshots_task.apply().get()
    monkeypatch.undo()

    job = AuditLog.objects.get(event_type="job.nightly_snapshots")
    assert job.metadata == {"outcome": "failed", "error": "RuntimeError: disk full"}
    with job_lock_held_elsewhere("nightly_snapshots"):
        pass  # the failed run let go of the lock


def _scheduled(task):
    return PeriodicTask.objects.select_related("crontab", "interval").get(task=task)


def test_the_default_schedule_runs_each_job_at_its_time_in_london():
    nightly = _scheduled("analyticsapp.nightly_snapshots")
    assert nightly.enabled and nightly.interval is None
    cron = nightly.crontab
    assert (cron.minute, cron.hour, cron.day_of_week, cron.day_of_month) == (
        "0",
        "2",
        "*",
        "*",
    )
    assert cron.timezone == ZoneInfo("Europe/London")

    checks = _scheduled("monitoring.run_checks")
    assert checks.enabled and checks.interval is None
    assert (checks.crontab.minute, checks.crontab.hour) == ("5", "*")
    assert checks.crontab.timezone == ZoneInfo("Europe/London")
    assert checks.expire_seconds == 3600

    reprocess = _scheduled("payments.reprocess_stripe_events")
    assert reprocess.enabled and reprocess.crontab is None
    assert (reprocess.interval.every, reprocess.interval.period) == (10, "minutes")
    assert reprocess.expire_seconds == 600

    expiry = _scheduled("catalog.expire_reservations")
    assert (expiry.interval.every, expiry.interval.period) == (5, "minutes")

    catch_up = _scheduled("analyticsapp.stripe_catch_up")
    assert catch_up.enabled and catch_up.interval is None
    assert (catch_up.crontab.minute, catch_up.crontab.hour) == ("35", "*")
    assert catch_up.crontab.timezone == ZoneInfo("Europe/London")

    digest = _scheduled("monitoring.staff_digest")
    assert digest.enabled and (digest.crontab.minute, digest.crontab.hour) == ("0", "8")
    assert digest.crontab.timezone == ZoneInfo("Europe/London")


def test_running_the_schedule_migration_again_changes_nothing():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("analyticsapp.migrations.0002_default_schedule")
    before = sorted(
        PeriodicTask.objects.values_list("name", "task", "crontab_id", "interval_id")
    )

    migration.schedule(apps, None)

    after = sorted(
        PeriodicTask.objects.values_list("name", "task", "crontab_id", "interval_id")
    )
    # with payments/0006 (settlement), analyticsapp/0008 (the Stripe catch-up) and
    # monitoring/0002 (the staff digest)
    assert after == before and len(after) == 7
