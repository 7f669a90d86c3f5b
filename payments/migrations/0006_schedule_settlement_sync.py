"""The default schedule: the settlement sync every 5 minutes (balance transactions
and payout lines from Stripe; offline, the simulator's daily payouts first)."""

from django.db import migrations
from django.utils import timezone

TASK = "payments.settlement_sync"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_5_min, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Settlement sync: balance transactions and payouts",
        defaults={
            "task": TASK,
            "interval": every_5_min,
            "enabled": True,
            "expire_seconds": 300,
            "description": "Asks Stripe for missing balance transactions and the "
            "lines of paid payouts (offline: makes the daily payout first).",
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
        ("payments", "0005_balance_transactions_payouts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
