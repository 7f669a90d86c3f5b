"""The default schedule of the jobs (django-celery-beat), in REPORTING_TIMEZONE.

- nightly snapshot rebuild of the last 31 days at 02:00 (a time that exists once
  every day in Europe/London: the clocks change at 01:00 UTC);
- data-quality checks hourly at minute 5;
- retry of failed Stripe events every 10 minutes, each event under its backoff.

Reservation expiry (every 5 minutes) is scheduled by catalog/0002. get_or_create
by name: re-running is harmless, and a schedule an operator edited is kept.
"""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

NIGHTLY = "analyticsapp.nightly_snapshots"
CHECKS = "monitoring.run_checks"
REPROCESS = "payments.reprocess_stripe_events"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    tz = getattr(settings, "REPORTING_TIMEZONE", "Europe/London")

    def crontab(minute, hour):
        every = {"day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
        return CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, timezone=tz, **every
        )[0]

    every_10_min, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Nightly snapshot rebuild (last 31 days)",
        defaults={
            "task": NIGHTLY,
            "crontab": crontab("0", "2"),
            "enabled": True,
            "description": "Rebuilds the daily snapshots of the last 31 business "
            "days at 02:00, so late refunds and wishlist conversions land.",
        },
    )
    PeriodicTask.objects.get_or_create(
        name="Data-quality checks (hourly)",
        defaults={
            "task": CHECKS,
            "crontab": crontab("5", "*"),
            "enabled": True,
            # A run left queued past the next one is pointless: drop it.
            "expire_seconds": 3600,
            "description": "Runs every monitoring check; opens and resolves issues.",
        },
    )
    PeriodicTask.objects.get_or_create(
        name="Retry failed Stripe events (with backoff)",
        defaults={
            "task": REPROCESS,
            "interval": every_10_min,
            "enabled": True,
            "expire_seconds": 600,
            "description": "Retries failed Stripe events once 2**attempts minutes "
            "(at most 6 hours) have passed; after 10 attempts they wait for a person.",
        },
    )
    # Tells a running beat (DatabaseScheduler) to reload its schedule.
    PeriodicTasks.objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[NIGHTLY, CHECKS, REPROCESS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analyticsapp", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
