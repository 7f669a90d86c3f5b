"""The daily staff digest (monitoring.staff_digest) at 08:00 REPORTING_TIMEZONE:
the critical and high issues still open, emailed to every admin. get_or_create by
name: an edited schedule is kept."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

TASK = "monitoring.staff_digest"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="8",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=getattr(settings, "REPORTING_TIMEZONE", "Europe/London"),
    )
    PeriodicTask.objects.get_or_create(
        name="Staff digest: open critical and high issues (daily)",
        defaults={
            "task": TASK,
            "crontab": daily,
            "enabled": True,
            "expire_seconds": 3600,
            "description": "Emails every admin the critical and high issues "
            "still open, oldest first; nothing when none is.",
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
        ("monitoring", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
