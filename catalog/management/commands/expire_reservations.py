import getpass

from django.core.management.base import BaseCommand

from catalog.services.stock import reservations_expire


class Command(BaseCommand):
    help = "Release stock reservations past their expiry (also run by Celery beat)."

    def handle(self, *args, **options):
        count = reservations_expire(actor_label=f"cli:{getpass.getuser()}")
        self.stdout.write(f"released {count} expired reservation(s)")
