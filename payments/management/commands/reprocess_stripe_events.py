import getpass

from django.core.management.base import BaseCommand, CommandError

from core.locks import job_lock
from payments.models import StripeEvent
from payments.services.reprocess import events_reprocess


class Command(BaseCommand):
    help = "Process stored Stripe events again: failed, pending, or one by id."

    def add_arguments(self, parser):
        parser.add_argument("--failed", action="store_true")
        parser.add_argument("--pending", action="store_true")
        parser.add_argument(
            "--id", dest="event_id", default="", help="an event id (evt_…)"
        )

    def handle(self, *args, failed, pending, event_id, **options):
        if not (failed or pending or event_id):
            raise CommandError("say which events: --failed, --pending or --id EVT")
        if event_id and not StripeEvent.objects.filter(event_id=event_id).exists():
            raise CommandError(f"no stored event {event_id}")
        with job_lock("reprocess_stripe_events") as acquired:
            if not acquired:
                raise CommandError("a reprocessing run is in progress; try again later")
            outcome = events_reprocess(
                failed=failed,
                pending=pending,
                event_id=event_id,
                actor_label=f"cli:{getpass.getuser()}",
            )
        if not outcome:
            self.stdout.write("nothing to reprocess")
        for status, count in sorted(outcome.items()):
            self.stdout.write(f"{count} event(s) now {status}")
