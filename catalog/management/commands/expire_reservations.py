import getpass

from django.core.management.base import BaseCommand, CommandError

from catalog.services.stock import reservations_expire
from core.locks import job_lock


class Command(BaseCommand):
    help = "Release stock reservations past their expiry (also run by Celery beat)."

    def handle(self, *args, **options):
        with job_lock("expire_reservations") as acquired:
            if not acquired:
                raise CommandError("the expiry sweep is running already")
            count = reservations_expire(actor_label=f"cli:{getpass.getuser()}")
        self.stdout.write(f"released {count} expired reservation(s)")
