"""The hourly Stripe catch-up (analyticsapp.stripe_catch_up) at minute 35: the
events the webhook never delivered, asked of Stripe and applied. It does nothing
with offline payments. get_or_create by name: an edited schedule is kept."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

TASK = "analyticsapp.stripe_catch_up"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    hourly, _ = CrontabSchedule.objects.get_or_create(
        minute="35",
        hour="*",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=getattr(settings, "REPORTING_TIMEZONE", "Europe/London"),
    )
    PeriodicTask.objects.get_or_create(
        name="Stripe catch-up: events the webhook missed (hourly)",
        defaults={
            "task": TASK,
            "crontab": hourly,
            "enabled": True,
            "expire_seconds": 3000,
            "description": "Lists Stripe's recent events and applies those the "
            "inbox never received, then rebuilds the days they touched.",
        },
    )
    PeriodicTasks.objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        task=TASK
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analyticsapp", "0007_snapshot_paid_order_revenue"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
